//! Hostile XLSX files, generated at test time with the `zip` crate: each is small on the wire
//! and declares, or unpacks to, far more than a server can hold.

use std::io::{Cursor, Write};

use zip::ZipWriter;
use zip::write::SimpleFileOptions;

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#;
const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Лист1" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;
const SHEET_START: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#;
const SHEET_END: &str = "</sheetData></worksheet>";
/// A ПОС header row and one data row, as inline strings.
const ROWS: &str = r#"<row r="1"><c r="A1" t="inlineStr"><is><t>Номер</t></is></c><c r="B1" t="inlineStr"><is><t>Дата поступления</t></is></c><c r="C1" t="inlineStr"><is><t>Факт</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>B-1</t></is></c><c r="B2" t="inlineStr"><is><t>20.11.2026 10:00</t></is></c><c r="C2" t="inlineStr"><is><t>Яма</t></is></c></row>"#;
const SHARED_STRINGS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="0" uniqueCount="0"></sst>"#;

fn options() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true)
}

/// A workbook whose first sheet is written by `sheet` and whose shared-strings part is
/// `shared`, plus `extra` parts.
fn workbook(sheet: impl FnOnce(&mut dyn Write), shared: &str, extra: usize) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, body) in [
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", RELS),
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
        ("xl/sharedStrings.xml", shared),
    ] {
        w.start_file(name, options()).unwrap();
        w.write_all(body.as_bytes()).unwrap();
    }
    w.start_file("xl/worksheets/sheet1.xml", options()).unwrap();
    sheet(&mut w);
    for i in 0..extra {
        w.start_file(format!("xl/media/extra{i}.xml"), options()).unwrap();
        w.write_all(b"<a/>").unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn plain_sheet(rows: &'static str) -> impl FnOnce(&mut dyn Write) {
    move |w: &mut dyn Write| {
        w.write_all(SHEET_START.as_bytes()).unwrap();
        w.write_all(rows.as_bytes()).unwrap();
        w.write_all(SHEET_END.as_bytes()).unwrap();
    }
}

/// A well-formed workbook of the same make as the bombs, with one data row (the control).
pub fn harmless() -> Vec<u8> {
    workbook(plain_sheet(ROWS), SHARED_STRINGS, 0)
}

/// A shared-strings table that claims ten trillion strings (`uniqueCount="10000000000000"`).
pub fn shared_strings_claim() -> Vec<u8> {
    let sst = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="10000000000000" uniqueCount="10000000000000"><si><t>Номер</t></si></sst>"#;
    workbook(plain_sheet(ROWS), sst, 0)
}

/// A cell at the far corner of the grid (`XFD1048576`), with a dimension to match.
pub fn far_right_cell() -> Vec<u8> {
    let sheet = |w: &mut dyn Write| {
        let start = SHEET_START.replace("<sheetData>", r#"<dimension ref="A1:XFD1048576"/><sheetData>"#);
        w.write_all(start.as_bytes()).unwrap();
        w.write_all(ROWS.as_bytes()).unwrap();
        w.write_all(br#"<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>"#).unwrap();
        w.write_all(SHEET_END.as_bytes()).unwrap();
    };
    workbook(sheet, SHARED_STRINGS, 0)
}

/// A sheet padded with whitespace between its rows, `bytes` in all, in runs of 512 KiB (each
/// run is a legal text between comments; the total is what hurts). 1 GiB packs into about 1 MiB.
pub fn whitespace_padded(bytes: usize) -> Vec<u8> {
    let sheet = move |w: &mut dyn Write| {
        w.write_all(SHEET_START.as_bytes()).unwrap();
        w.write_all(ROWS.as_bytes()).unwrap();
        let run = vec![b' '; 512 << 10];
        let mut written = 0;
        while written < bytes {
            w.write_all(&run).unwrap();
            // An XML comment between the runs: each run is a text of its own.
            w.write_all(b"<!---->").unwrap();
            written += run.len() + 7;
        }
        w.write_all(SHEET_END.as_bytes()).unwrap();
    };
    workbook(sheet, SHARED_STRINGS, 0)
}

/// One data cell of `bytes` characters (300 MB in the issue).
pub fn single_cell(bytes: usize) -> Vec<u8> {
    let sheet = move |w: &mut dyn Write| {
        w.write_all(SHEET_START.as_bytes()).unwrap();
        w.write_all(ROWS.as_bytes()).unwrap();
        w.write_all(br#"<row r="3"><c r="A3" t="inlineStr"><is><t>B-2</t></is></c><c r="B3" t="inlineStr"><is><t>20.11.2026 10:00</t></is></c><c r="C3" t="inlineStr"><is><t>"#).unwrap();
        let run = vec![b'a'; 1 << 20];
        let mut written = 0;
        while written < bytes {
            let n = run.len().min(bytes - written);
            w.write_all(&run[..n]).unwrap();
            written += n;
        }
        w.write_all(b"</t></is></c></row>").unwrap();
        w.write_all(SHEET_END.as_bytes()).unwrap();
    };
    workbook(sheet, SHARED_STRINGS, 0)
}

/// A workbook of `parts` parts in all.
pub fn too_many_parts(parts: usize) -> Vec<u8> {
    workbook(plain_sheet(ROWS), SHARED_STRINGS, parts.saturating_sub(6))
}
