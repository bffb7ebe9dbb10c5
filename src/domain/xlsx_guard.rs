//! A pre-scan of an XLSX workbook before calamine opens it: an upload is a ZIP of XML parts,
//! and a few kilobytes of it can declare (or unpack to) far more than the server can hold.
//! Calamine allocates from declared values (the shared-strings `uniqueCount`) and buffers whole
//! texts, so every limit here is checked while streaming, before anything is allocated from
//! what the file claims:
//!
//! - at most [`MAX_PARTS`] parts (counted from the ZIP's own end record before the archive is
//!   opened, so a declared count cannot size an allocation either);
//! - each part unpacks to at most [`MAX_PART_BYTES`], the whole workbook to at most
//!   `ImportLimits::max_unpacked_bytes` (`MCU_IMPORT_MAX_UNPACKED_BYTES`), measured while
//!   reading (the sizes in the ZIP headers are not trusted);
//! - any single tag or text of an XML part is at most [`MAX_TOKEN_BYTES`];
//! - a cell's text is at most [`MAX_CELL_CHARS`] characters (Excel's own limit);
//! - cell references (`<c r>`, `<row r>`, `<dimension ref>`) lie within Excel's grid and no
//!   lower than the import row limit (plus [`HEADER_ROWS`] for the header and a title);
//! - the shared-strings table declares at most [`MAX_SHARED_STRINGS`] strings and holds as many
//!   as it declares.
//!
//! Memory stays at a few buffers of [`MAX_TOKEN_BYTES`] whatever the file.

use std::cell::Cell;
use std::io::{BufRead, Read, Seek, SeekFrom};

use quick_xml::events::{BytesStart, Event};

/// Parts (files) a workbook may have.
pub const MAX_PARTS: u64 = 1000;
/// Unpacked size of one part.
pub const MAX_PART_BYTES: u64 = 256 << 20;
/// Default unpacked size of a whole workbook (`MCU_IMPORT_MAX_UNPACKED_BYTES`).
pub const DEFAULT_MAX_UNPACKED_BYTES: u64 = 512 << 20;
/// Longest tag (with its attributes) or text between tags of an XML part.
pub const MAX_TOKEN_BYTES: u64 = 1 << 20;
/// Excel's limit on the text of one cell, in characters.
pub const MAX_CELL_CHARS: usize = 32_767;
/// Strings a shared-strings table may declare or hold.
pub const MAX_SHARED_STRINGS: u64 = 1_500_000;
/// Rows above the data a sheet may have besides the import row limit (the header is looked
/// for in the first ten).
pub const HEADER_ROWS: u64 = 10;
/// Excel's grid: 1,048,576 rows × 16,384 columns (XFD).
pub const EXCEL_ROWS: u64 = 1_048_576;
pub const EXCEL_COLUMNS: u64 = 16_384;

/// The limits of one import that a file is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportLimits {
    /// Data rows (`MCU_IMPORT_MAX_ROWS`).
    pub max_rows: usize,
    /// Unpacked size of an XLSX, and size of a CSV (`MCU_IMPORT_MAX_UNPACKED_BYTES`).
    pub max_unpacked_bytes: u64,
}

impl ImportLimits {
    /// `max_rows` data rows, the default unpacked size.
    pub fn rows(max_rows: usize) -> Self {
        Self { max_rows, max_unpacked_bytes: DEFAULT_MAX_UNPACKED_BYTES }
    }

    /// The highest row number (1-based) a sheet may use.
    pub fn max_row_number(&self) -> u64 {
        (self.max_rows as u64).saturating_add(HEADER_ROWS)
    }
}

/// Why a file was refused before it was read: the message names the limit, and the setting
/// when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A limit of this module was exceeded; the text says which.
    Limit(String),
    /// Not a ZIP archive that can be read.
    Corrupted(String),
}

/// Human sizes for messages: `512 МиБ`, `1 МиБ`, `64 КиБ`.
pub fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} МиБ", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} КиБ", bytes >> 10)
    } else {
        format!("{bytes} байт")
    }
}

fn limit(message: String) -> Refusal {
    Refusal::Limit(message)
}

/// Checks an XLSX workbook read from the start of `file` against `limits`; leaves the reader at
/// an unspecified position.
///
/// # Errors
/// The first limit the file exceeds, or `Corrupted` when it is not a readable ZIP archive.
pub fn check<R: Read + Seek>(mut file: R, limits: &ImportLimits) -> Result<(), Refusal> {
    let entries = declared_entries(&mut file)?;
    if entries > MAX_PARTS {
        return Err(too_many_parts());
    }
    file.seek(SeekFrom::Start(0)).map_err(|e| Refusal::Corrupted(e.to_string()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| Refusal::Corrupted(e.to_string()))?;
    if archive.len() as u64 > MAX_PARTS {
        return Err(too_many_parts());
    }
    let mut total = 0u64;
    for index in 0..archive.len() {
        let part = archive.by_index(index).map_err(|e| Refusal::Corrupted(e.to_string()))?;
        let name = part.name().to_string();
        let mut meter = Meter::new(part, total, limits.max_unpacked_bytes);
        let scanned = scan_part(&mut meter, &name, limits);
        let refused = meter.refused.take();
        if let Some(refusal) = refused {
            return Err(refusal);
        }
        scanned?;
        // What the XML scan left unread (after a syntax error) still counts.
        drain(&mut meter)?;
        total = meter.total();
    }
    Ok(())
}

fn too_many_parts() -> Refusal {
    limit(format!("в книге больше {MAX_PARTS} частей (файлов в архиве)"))
}

/// The number of entries the ZIP's end-of-central-directory records declare (the larger of the
/// classic and the ZIP64 one), read from the file's tail without trusting it for anything else.
fn declared_entries<R: Read + Seek>(file: &mut R) -> Result<u64, Refusal> {
    let corrupted = |e: std::io::Error| Refusal::Corrupted(e.to_string());
    let len = file.seek(SeekFrom::End(0)).map_err(corrupted)?;
    // The end record is 22 bytes plus a comment of at most 65,535.
    let tail_len = len.min(22 + 65_535);
    file.seek(SeekFrom::Start(len - tail_len)).map_err(corrupted)?;
    let mut tail = Vec::with_capacity(tail_len as usize);
    file.by_ref().take(tail_len).read_to_end(&mut tail).map_err(corrupted)?;
    let u16_at = |b: &[u8], i: usize| b.get(i..i + 2).map_or(0, |s| u64::from(u16::from_le_bytes([s[0], s[1]])));
    let u64_at =
        |b: &[u8], i: usize| b.get(i..i + 8).and_then(|s| <[u8; 8]>::try_from(s).ok()).map_or(0, u64::from_le_bytes);
    let mut found = false;
    let mut most = 0u64;
    for at in (0..tail.len().saturating_sub(21)).rev() {
        if tail[at..at + 4] != *b"PK\x05\x06" {
            continue;
        }
        found = true;
        most = most.max(u16_at(&tail, at + 8)).max(u16_at(&tail, at + 10));
        // A ZIP64 locator right before the end record points to the ZIP64 end record.
        if at >= 20 && tail[at - 20..at - 16] == *b"PK\x06\x07" {
            let record = u64_at(&tail, at - 20 + 8);
            if record < len {
                let mut head = [0u8; 40];
                file.seek(SeekFrom::Start(record)).map_err(corrupted)?;
                if file.read_exact(&mut head).is_ok() && head[..4] == *b"PK\x06\x06" {
                    most = most.max(u64_at(&head, 24)).max(u64_at(&head, 32));
                }
            }
        }
    }
    if found { Ok(most) } else { Err(Refusal::Corrupted("нет оглавления архива ZIP".into())) }
}

/// Reads what is left of a part through its meter.
fn drain<R: Read>(meter: &mut Meter<R>) -> Result<(), Refusal> {
    loop {
        match meter.fill_buf() {
            Ok([]) => return Ok(()),
            Ok(b) => {
                let n = b.len();
                meter.consume(n);
            }
            Err(e) => return Err(meter.refused.take().unwrap_or(Refusal::Corrupted(e.to_string()))),
        }
    }
}

/// A buffered reader over one unpacking part that counts what it unpacks (the part, the
/// workbook) and how far the XML reader got since its last event, and fails as soon as a limit
/// is passed, so the XML reader never buffers more than [`MAX_TOKEN_BYTES`] for one event.
struct Meter<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    part: u64,
    before: u64,
    max_total: u64,
    consumed: u64,
    /// `consumed` at the end of the last XML event.
    mark: Cell<u64>,
    /// Whether the token limit applies (not after the XML scan gave up on a part).
    tokens: bool,
    refused: Option<Refusal>,
}

impl<R: Read> Meter<R> {
    fn new(inner: R, before: u64, max_total: u64) -> Self {
        Self {
            inner,
            buf: vec![0u8; 64 * 1024].into_boxed_slice(),
            pos: 0,
            filled: 0,
            part: 0,
            before,
            max_total,
            consumed: 0,
            mark: Cell::new(0),
            tokens: true,
            refused: None,
        }
    }

    fn total(&self) -> u64 {
        self.before + self.part
    }

    fn refuse(&mut self, refusal: Refusal) -> std::io::Error {
        self.refused = Some(refusal);
        std::io::Error::other("limit")
    }
}

impl<R: Read> Read for Meter<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Meter<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.tokens && self.consumed - self.mark.get() > MAX_TOKEN_BYTES {
            return Err(self.refuse(limit(format!(
                "в книге есть тег или текст длиннее {} (ячейка не может быть длиннее {MAX_CELL_CHARS} символов)",
                size_text(MAX_TOKEN_BYTES)
            ))));
        }
        if self.pos == self.filled {
            let n = match self.inner.read(&mut self.buf) {
                Ok(n) => n,
                Err(e) => return Err(self.refuse(Refusal::Corrupted(e.to_string()))),
            };
            self.part += n as u64;
            if self.part > MAX_PART_BYTES {
                return Err(self
                    .refuse(limit(format!("часть книги в распакованном виде больше {}", size_text(MAX_PART_BYTES)))));
            }
            if self.total() > self.max_total {
                return Err(self.refuse(limit(format!(
                    "книга в распакованном виде больше {} (MCU_IMPORT_MAX_UNPACKED_BYTES)",
                    size_text(self.max_total)
                ))));
            }
            self.pos = 0;
            self.filled = n;
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.filled);
        self.consumed += amount as u64;
    }
}

/// What the XML scan of one part keeps: a few counters, never a value from the file.
#[derive(Default)]
struct PartState {
    /// Characters of the cell (`<c>`) or shared string (`<si>`) being read.
    cell_chars: Option<usize>,
    /// `uniqueCount` of this part's `<sst>`, when declared.
    declared_strings: Option<u64>,
    strings: u64,
    in_sst: bool,
}

/// Streams one part's XML and checks what it says; a part that is not XML (an image) is only
/// measured.
fn scan_part<R: Read>(meter: &mut Meter<R>, name: &str, limits: &ImportLimits) -> Result<(), Refusal> {
    let mut reader = quick_xml::Reader::from_reader(meter);
    let config = reader.config_mut();
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    let mut buf = Vec::new();
    let mut state = PartState::default();
    loop {
        buf.clear();
        let Ok(event) = reader.read_event_into(&mut buf) else {
            // A limit, or not XML: the meter knows which; either way the rest is only measured.
            reader.get_mut().tokens = false;
            return Ok(());
        };
        let inner = reader.get_ref();
        inner.mark.set(inner.consumed);
        match event {
            Event::Start(e) => start(&e, false, &mut state, limits, name)?,
            Event::Empty(e) => start(&e, true, &mut state, limits, name)?,
            Event::End(e) => {
                let local = e.local_name().into_inner();
                match local {
                    "c" | "si" => state.cell_chars = None,
                    "sst" => {
                        state.in_sst = false;
                        check_strings_declared(&state)?;
                    }
                    _ => {}
                }
            }
            Event::Text(t) => add_chars(&mut state, t.chars().count())?,
            Event::CData(t) => add_chars(&mut state, t.chars().count())?,
            Event::GeneralRef(_) => add_chars(&mut state, 1)?,
            Event::Eof => {
                if state.in_sst {
                    check_strings_declared(&state)?;
                }
                return Ok(());
            }
            _ => {}
        }
    }
}

fn check_strings_declared(state: &PartState) -> Result<(), Refusal> {
    match state.declared_strings {
        Some(declared) if declared != state.strings => {
            Err(limit(format!("таблица общих строк объявляет {declared} строк, а содержит {}", state.strings)))
        }
        _ => Ok(()),
    }
}

fn add_chars(state: &mut PartState, n: usize) -> Result<(), Refusal> {
    if let Some(chars) = &mut state.cell_chars {
        *chars += n;
        if *chars > MAX_CELL_CHARS {
            return Err(limit(format!("в книге есть ячейка длиннее {MAX_CELL_CHARS} символов")));
        }
    }
    Ok(())
}

fn start(
    e: &BytesStart<'_>,
    empty: bool,
    state: &mut PartState,
    limits: &ImportLimits,
    part: &str,
) -> Result<(), Refusal> {
    let local = e.local_name().into_inner();
    match local {
        "c" => {
            if let Some(r) = attribute(e, "r") {
                check_reference(&r, limits, part)?;
            }
            state.cell_chars = (!empty).then_some(0);
        }
        "row" => {
            if let Some(r) = attribute(e, "r") {
                let row = number(&r).ok_or_else(|| bad_reference(&r, part))?;
                check_row(row, limits, part)?;
            }
        }
        "dimension" => {
            if let Some(r) = attribute(e, "ref") {
                for cell in r.split(':') {
                    check_reference(cell, limits, part)?;
                }
            }
        }
        "sst" => {
            state.in_sst = true;
            // `uniqueCount` sizes calamine's table; `count` counts references to it (a file at
            // the row limit with many text columns has millions) and sizes nothing.
            if let Some(v) = attribute(e, "uniqueCount") {
                let n = number(&v).ok_or_else(|| Refusal::Corrupted(format!("{part}: неверное число строк")))?;
                if n > MAX_SHARED_STRINGS {
                    return Err(limit(format!("таблица общих строк объявляет {n} строк, больше {MAX_SHARED_STRINGS}")));
                }
                state.declared_strings = Some(n);
            }
        }
        "si" if state.in_sst => {
            state.strings += 1;
            if state.strings > MAX_SHARED_STRINGS {
                return Err(limit(format!("в таблице общих строк больше {MAX_SHARED_STRINGS} строк")));
            }
            state.cell_chars = (!empty).then_some(0);
        }
        "f" => {
            // A shared formula's index sizes calamine's table of shared formulas.
            if let Some(si) = attribute(e, "si") {
                let n = number(&si).ok_or_else(|| bad_reference(&si, part))?;
                if n >= EXCEL_ROWS {
                    return Err(limit(format!("индекс общей формулы {n} больше {EXCEL_ROWS}")));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// An attribute's raw value by local name (a malformed attribute list yields none).
fn attribute(e: &BytesStart<'_>, key: &str) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .filter_map(Result::ok)
        .find(|a| a.key.local_name().into_inner() == key)
        .map(|a| a.value.into_owned())
}

/// A decimal number of at most 19 digits.
fn number(raw: &str) -> Option<u64> {
    let raw = raw.trim().as_bytes();
    if raw.is_empty() || raw.len() > 19 || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    raw.iter().try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

fn bad_reference(raw: &str, part: &str) -> Refusal {
    let shown: String = raw.chars().take(40).collect();
    limit(format!("{part}: ссылка на ячейку «{shown}» вне листа Excel (до XFD{EXCEL_ROWS})"))
}

fn check_row(row: u64, limits: &ImportLimits, part: &str) -> Result<(), Refusal> {
    if row == 0 || row > EXCEL_ROWS {
        return Err(limit(format!("{part}: номер строки {row} вне листа Excel (1–{EXCEL_ROWS})")));
    }
    if row > limits.max_row_number() {
        return Err(limit(format!(
            "{part}: строка {row} дальше предела числа строк {} (MCU_IMPORT_MAX_ROWS) и {HEADER_ROWS} строк заголовка",
            limits.max_rows
        )));
    }
    Ok(())
}

/// A cell reference `A1` … `XFD1048576` (`$` allowed), checked against Excel's grid and the row
/// limit.
fn check_reference(raw: &str, limits: &ImportLimits, part: &str) -> Result<(), Refusal> {
    let r: Vec<u8> = raw.bytes().filter(|b| *b != b'$').collect();
    let letters = r.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let digits = &r[letters..];
    if letters == 0 || letters > 3 || digits.is_empty() {
        return Err(bad_reference(raw, part));
    }
    let column = r[..letters].iter().fold(0u64, |n, b| n * 26 + u64::from(b.to_ascii_uppercase() - b'A' + 1));
    if column > EXCEL_COLUMNS {
        return Err(bad_reference(raw, part));
    }
    let row = std::str::from_utf8(digits).ok().and_then(number).ok_or_else(|| bad_reference(raw, part))?;
    check_row(row, limits, part)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    fn zip_of(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, body) in parts {
            w.start_file(*name, options).unwrap();
            w.write_all(body).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn verdict(parts: &[(&str, &[u8])]) -> Result<(), Refusal> {
        check(Cursor::new(zip_of(parts)), &ImportLimits::rows(100))
    }

    fn refused_for(parts: &[(&str, &[u8])], needle: &str) {
        match verdict(parts) {
            Err(Refusal::Limit(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("expected a refusal naming «{needle}», got {other:?}"),
        }
    }

    #[test]
    fn an_ordinary_sheet_passes() {
        let sheet = br#"<worksheet><dimension ref="A1:C3"/><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="C3"><v>1.5</v></c></row></sheetData></worksheet>"#;
        let sst = br#"<sst count="2" uniqueCount="1"><si><t>Hello &amp; bye</t></si></sst>"#;
        assert_eq!(verdict(&[("xl/worksheets/sheet1.xml", sheet), ("xl/sharedStrings.xml", sst)]), Ok(()));
    }

    #[test]
    fn declared_and_actual_counts_and_references() {
        refused_for(&[("s.xml", br#"<sst uniqueCount="10000000000000"></sst>"#)], "1500000");
        refused_for(&[("s.xml", br#"<sst uniqueCount="2"><si><t>a</t></si></sst>"#)], "объявляет 2");
        refused_for(&[("w.xml", br#"<c r="XFE1"/>"#)], "вне листа");
        refused_for(&[("w.xml", br#"<c r="A1048577"/>"#)], "вне листа");
        refused_for(&[("w.xml", br#"<c r="XFD1048576"/>"#)], "MCU_IMPORT_MAX_ROWS");
        refused_for(&[("w.xml", br#"<dimension ref="A1:B111"/>"#)], "MCU_IMPORT_MAX_ROWS");
        assert_eq!(verdict(&[("w.xml", br#"<dimension ref="A1:XFD110"/>"#)]), Ok(()), "100 rows + 10");
        refused_for(&[("w.xml", br#"<row r="99999999999999999999"/>"#)], "вне листа");
        refused_for(&[("w.xml", br#"<f t="shared" si="4000000000"/>"#)], "общей формулы");
    }

    #[test]
    fn long_cells_texts_and_tags() {
        let cell = format!("<c r=\"A1\" t=\"inlineStr\"><is><t>{}</t></is></c>", "я".repeat(MAX_CELL_CHARS + 1));
        refused_for(&[("w.xml", cell.as_bytes())], "32767");
        let fits = format!("<c r=\"A1\" t=\"inlineStr\"><is><t>{}</t></is></c>", "&amp;".repeat(MAX_CELL_CHARS));
        assert_eq!(verdict(&[("w.xml", fits.as_bytes())]), Ok(()), "an entity is one character");
        let text = format!("<x>{}</x>", " ".repeat(3 << 20));
        refused_for(&[("w.xml", text.as_bytes())], "1 МиБ");
        let tag = format!("<x a=\"{}\"/>", "b".repeat(3 << 20));
        refused_for(&[("w.xml", tag.as_bytes())], "1 МиБ");
    }

    #[test]
    fn sizes_and_parts() {
        let chunk = format!("<x>{}</x>", " ".repeat(512 << 10));
        let padded = chunk.repeat(4);
        let limits = ImportLimits { max_rows: 10, max_unpacked_bytes: 1 << 20 };
        let refused = check(Cursor::new(zip_of(&[("a.xml", padded.as_bytes())])), &limits);
        assert!(
            matches!(&refused, Err(Refusal::Limit(m)) if m.contains("MCU_IMPORT_MAX_UNPACKED_BYTES")),
            "{refused:?}"
        );
        let names: Vec<String> = (0..=MAX_PARTS).map(|i| format!("p{i}.xml")).collect();
        let parts: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"<a/>"[..])).collect();
        refused_for(&parts, "1000");
        assert!(matches!(check(Cursor::new(b"PK\x03\x04 not a zip".to_vec()), &limits), Err(Refusal::Corrupted(_))));
    }
}
