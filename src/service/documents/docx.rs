//! A small WordprocessingML (DOCX) writer with the house style of the centre's documents:
//! A4 with the margins of ГОСТ Р 7.0.97 (left 30 mm, right 15 mm, top and bottom 20 mm), Times
//! New Roman, Russian as the language of every run, real Heading styles, tables of fixed column
//! widths whose header row repeats on every page, PNG figures with captions and page numbers.
//!
//! docx-rs, used before, can write neither `w:lang` nor `w:tblHeader`; the parts written here
//! are few and plain, so the package is built directly (element order as the schema wants it:
//! Word refuses a file whose properties are out of order).

use std::fmt::Write as _;
use std::io::Write as _;

use chrono::{DateTime, Utc};

use crate::error::{AppError, AppResult};

/// The width of the text between the margins, in twentieths of a point (165 mm).
pub const TEXT_WIDTH: u32 = 9355;
/// The font of every document.
pub const FONT: &str = "Times New Roman";
/// The language of every run.
pub const LANG: &str = "ru-RU";
/// Red of overdue marks.
pub const RED: &str = "C00000";
/// Grey of secondary text.
pub const GREY: &str = "595959";

const W_NS: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
const R_NS: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
const WP_NS: &str = "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing";
const A_NS: &str = "http://schemas.openxmlformats.org/drawingml/2006/main";
const PIC_NS: &str = "http://schemas.openxmlformats.org/drawingml/2006/picture";
/// English Metric Units in a millimetre.
const EMU_PER_MM: f64 = 36_000.0;

/// Paragraph styles of the documents (their ids in `styles.xml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Body text: justified, first line indented 1.25 cm.
    Normal,
    /// Like body text, without the indent and left-aligned (lists of facts, signatures).
    Plain,
    /// The document's name, centred capitals.
    Title,
    /// The line under the title (period, subject).
    Subtitle,
    Heading1,
    Heading2,
    /// The sender's block at the top of the first page.
    Letterhead,
    /// Text in table cells.
    TableText,
    /// Header cells of tables.
    TableHeading,
    /// A paragraph that holds a figure.
    Figure,
    /// «Рисунок N — …» under a figure.
    Caption,
    /// Notes under tables, smaller.
    Note,
}

impl Style {
    fn id(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Plain => "Plain",
            Self::Title => "Title",
            Self::Subtitle => "Subtitle",
            Self::Heading1 => "Heading1",
            Self::Heading2 => "Heading2",
            Self::Letterhead => "Letterhead",
            Self::TableText => "TableText",
            Self::TableHeading => "TableHeading",
            Self::Figure => "Figure",
            Self::Caption => "Caption",
            Self::Note => "Note",
        }
    }
}

/// Horizontal alignment of a paragraph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Center,
    Right,
    Justify,
}

impl Align {
    fn value(self) -> &'static str {
        match self {
            Self::Left => "left",
            Self::Center => "center",
            Self::Right => "right",
            Self::Justify => "both",
        }
    }
}

/// A piece of text with its emphasis.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Span {
    pub text: String,
    pub bold: bool,
    pub italic: bool,
    /// RGB in hex, e.g. [`RED`].
    pub color: Option<&'static str>,
    /// Size in points, when not the style's.
    pub size: Option<u32>,
}

impl Span {
    /// Plain text.
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into(), ..Self::default() }
    }

    /// Bold text.
    pub fn bold(text: impl Into<String>) -> Self {
        Self { text: text.into(), bold: true, ..Self::default() }
    }

    /// Italic text.
    #[must_use]
    pub fn italic(mut self) -> Self {
        self.italic = true;
        self
    }

    /// Text of another size, in points.
    #[must_use]
    pub fn size(mut self, points: u32) -> Self {
        self.size = Some(points);
        self
    }

    /// Text in a colour.
    #[must_use]
    pub fn color(mut self, rgb: &'static str) -> Self {
        self.color = Some(rgb);
        self
    }
}

/// A table cell: spans of one paragraph, or several paragraphs split at `\n`.
pub type Cell = Vec<Span>;

/// A plain table cell.
pub fn cell(text: impl Into<String>) -> Cell {
    vec![Span::new(text)]
}

/// One column of a table: its header, width in twips and the alignment of its cells.
#[derive(Debug, Clone)]
pub struct Column {
    pub title: String,
    pub width: u32,
    pub align: Align,
}

impl Column {
    pub fn new(title: impl Into<String>, width: u32, align: Align) -> Self {
        Self { title: title.into(), width, align }
    }
}

/// A table of fixed column widths; with `header`, the first row names the columns and repeats
/// on every page the table runs onto.
#[derive(Debug, Clone)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    pub header: bool,
    pub borders: bool,
    /// The paragraph style of body cells ([`Style::TableText`] unless changed).
    pub style: Style,
    /// Cells aligned to the bottom (signature lines level with the last line of a title).
    pub bottom: bool,
    /// All rows on one page (a signature line with its caption).
    pub keep_together: bool,
}

impl Table {
    /// A bordered table with a repeated header row.
    pub fn new(columns: Vec<Column>) -> Self {
        Self {
            columns,
            rows: Vec::new(),
            header: true,
            borders: true,
            style: Style::TableText,
            bottom: false,
            keep_together: false,
        }
    }

    /// A table without borders or header (layout blocks: approval, signatures, details).
    pub fn layout(columns: Vec<Column>) -> Self {
        Self {
            columns,
            rows: Vec::new(),
            header: false,
            borders: false,
            style: Style::TableText,
            bottom: false,
            keep_together: false,
        }
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }
}

/// Escapes text for XML and drops the characters XML 1.0 cannot carry at all (control
/// characters of imported texts would otherwise make the whole file unreadable).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

fn run(out: &mut String, span: &Span) {
    if span.text.is_empty() {
        return;
    }
    out.push_str("<w:r>");
    if span.bold || span.italic || span.color.is_some() || span.size.is_some() {
        out.push_str("<w:rPr>");
        if span.bold {
            out.push_str("<w:b/><w:bCs/>");
        }
        if span.italic {
            out.push_str("<w:i/><w:iCs/>");
        }
        if let Some(c) = span.color {
            let _ = write!(out, "<w:color w:val=\"{c}\"/>");
        }
        if let Some(pt) = span.size {
            let _ = write!(out, "<w:sz w:val=\"{0}\"/><w:szCs w:val=\"{0}\"/>", pt * 2);
        }
        out.push_str("</w:rPr>");
    }
    let mut text = String::new();
    let flush = |out: &mut String, text: &mut String| {
        if !text.is_empty() {
            let _ = write!(out, "<w:t xml:space=\"preserve\">{}</w:t>", escape(text));
            text.clear();
        }
    };
    for c in span.text.chars() {
        let special = match c {
            '\n' => "<w:br/>",
            '\t' => "<w:tab/>",
            '\u{AD}' => "<w:softHyphen/>",
            '\u{2011}' => "<w:noBreakHyphen/>",
            '\r' => "",
            _ => {
                text.push(c);
                continue;
            }
        };
        flush(out, &mut text);
        out.push_str(special);
    }
    flush(out, &mut text);
    out.push_str("</w:r>");
}

fn paragraph_xml(out: &mut String, style: Style, align: Option<Align>, keep_next: bool, spans: &[Span]) {
    let _ = write!(out, "<w:p><w:pPr><w:pStyle w:val=\"{}\"/>", style.id());
    if keep_next {
        out.push_str("<w:keepNext/>");
    }
    if let Some(a) = align {
        let _ = write!(out, "<w:jc w:val=\"{}\"/>", a.value());
    }
    out.push_str("</w:pPr>");
    for s in spans {
        run(out, s);
    }
    out.push_str("</w:p>");
}

fn table_xml(out: &mut String, table: &Table) {
    let total: u32 = table.columns.iter().map(|c| c.width).sum();
    let _ = write!(
        out,
        "<w:tbl><w:tblPr><w:tblStyle w:val=\"{}\"/><w:tblW w:w=\"{total}\" w:type=\"dxa\"/>\
         <w:tblLayout w:type=\"fixed\"/><w:tblLook w:val=\"04A0\" w:firstRow=\"1\" w:lastRow=\"0\" \
         w:firstColumn=\"0\" w:lastColumn=\"0\" w:noHBand=\"1\" w:noVBand=\"1\"/></w:tblPr><w:tblGrid>",
        if table.borders { "TableGrid" } else { "TableLayout" }
    );
    for c in &table.columns {
        let _ = write!(out, "<w:gridCol w:w=\"{}\"/>", c.width);
    }
    out.push_str("</w:tblGrid>");
    let cell_xml = |out: &mut String, col: &Column, spans: &[Span], header: bool, keep: bool| {
        let _ = write!(out, "<w:tc><w:tcPr><w:tcW w:w=\"{}\" w:type=\"dxa\"/>", col.width);
        if header {
            out.push_str("<w:shd w:val=\"clear\" w:color=\"auto\" w:fill=\"E7E6E6\"/><w:vAlign w:val=\"center\"/>");
        } else if table.bottom {
            out.push_str("<w:vAlign w:val=\"bottom\"/>");
        }
        out.push_str("</w:tcPr>");
        let (style, align) = if header { (Style::TableHeading, None) } else { (table.style, Some(col.align)) };
        // A cell holds at least one paragraph; `\n` in a span starts a new one.
        let mut paragraphs: Vec<Vec<Span>> = vec![Vec::new()];
        for s in spans {
            let mut parts = s.text.split('\n');
            if let (Some(first), Some(last)) = (parts.next(), paragraphs.last_mut()) {
                last.push(Span { text: first.to_string(), ..s.clone() });
            }
            for part in parts {
                paragraphs.push(vec![Span { text: part.to_string(), ..s.clone() }]);
            }
        }
        for p in &paragraphs {
            paragraph_xml(out, style, align, keep, p);
        }
        out.push_str("</w:tc>");
    };
    if table.header {
        out.push_str("<w:tr><w:trPr><w:cantSplit/><w:tblHeader/></w:trPr>");
        for c in &table.columns {
            cell_xml(out, c, &[Span::new(c.title.clone())], true, true);
        }
        out.push_str("</w:tr>");
    }
    for (n, row) in table.rows.iter().enumerate() {
        let keep = table.keep_together && n + 1 < table.rows.len();
        out.push_str("<w:tr><w:trPr><w:cantSplit/></w:trPr>");
        for (i, c) in table.columns.iter().enumerate() {
            cell_xml(out, c, row.get(i).map_or(&[][..], Vec::as_slice), false, keep);
        }
        out.push_str("</w:tr>");
    }
    out.push_str("</w:tbl>");
}

/// A document being written: body parts in order, then [`Document::finish`] packs it.
pub struct Document {
    title: String,
    body: String,
    images: Vec<Vec<u8>>,
    figures: u32,
}

impl Document {
    /// An empty document; `title` goes into its properties.
    pub fn new(title: impl Into<String>) -> Self {
        Self { title: title.into(), body: String::new(), images: Vec::new(), figures: 0 }
    }

    /// A paragraph of one style.
    pub fn paragraph(&mut self, style: Style, spans: &[Span]) {
        paragraph_xml(&mut self.body, style, None, false, spans);
    }

    /// A paragraph of one style with its own alignment.
    pub fn aligned(&mut self, style: Style, align: Align, spans: &[Span]) {
        paragraph_xml(&mut self.body, style, Some(align), false, spans);
    }

    /// Body text.
    pub fn text(&mut self, text: impl Into<String>) {
        self.paragraph(Style::Normal, &[Span::new(text)]);
    }

    /// A heading of level 1 or 2 (Word's «Заголовок 1/2»: in the navigation pane and tables of
    /// contents).
    pub fn heading(&mut self, level: u8, text: impl Into<String>) {
        let style = if level <= 1 { Style::Heading1 } else { Style::Heading2 };
        self.paragraph(style, &[Span::new(text)]);
    }

    /// A table; an empty paragraph follows, as Word needs one between two tables.
    pub fn table(&mut self, table: &Table) {
        table_xml(&mut self.body, table);
        paragraph_xml(&mut self.body, Style::Note, None, false, &[]);
    }

    /// A PNG figure `width_mm` wide (height from its aspect ratio) with the caption
    /// «Рисунок N — `caption`» under it; returns N.
    ///
    /// # Errors
    /// `INTERNAL` when `png` is not a PNG with a size.
    pub fn figure(&mut self, png: Vec<u8>, width_mm: f64, caption: &str) -> AppResult<u32> {
        let (w, h) = png_size(&png).ok_or_else(|| AppError::internal("a figure is not a PNG image"))?;
        self.images.push(png);
        self.figures += 1;
        let n = self.figures;
        let image = self.images.len();
        let cx = (width_mm * EMU_PER_MM).round() as u64;
        let cy = (width_mm * f64::from(h) / f64::from(w) * EMU_PER_MM).round() as u64;
        let name = escape(caption);
        let _ = write!(
            self.body,
            "<w:p><w:pPr><w:pStyle w:val=\"Figure\"/><w:keepNext/></w:pPr><w:r><w:drawing>\
             <wp:inline distT=\"0\" distB=\"0\" distL=\"0\" distR=\"0\"><wp:extent cx=\"{cx}\" cy=\"{cy}\"/>\
             <wp:docPr id=\"{image}\" name=\"Рисунок {n}\" descr=\"{name}\"/>\
             <wp:cNvGraphicFramePr><a:graphicFrameLocks noChangeAspect=\"1\"/></wp:cNvGraphicFramePr>\
             <a:graphic><a:graphicData uri=\"{PIC_NS}\"><pic:pic>\
             <pic:nvPicPr><pic:cNvPr id=\"{image}\" name=\"image{image}.png\"/><pic:cNvPicPr/></pic:nvPicPr>\
             <pic:blipFill><a:blip r:embed=\"rIdImage{image}\"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>\
             <pic:spPr><a:xfrm><a:off x=\"0\" y=\"0\"/><a:ext cx=\"{cx}\" cy=\"{cy}\"/></a:xfrm>\
             <a:prstGeom prst=\"rect\"><a:avLst/></a:prstGeom></pic:spPr></pic:pic></a:graphicData></a:graphic>\
             </wp:inline></w:drawing></w:r></w:p>"
        );
        self.paragraph(Style::Caption, &[Span::new(format!("Рисунок {n} — {caption}"))]);
        Ok(n)
    }

    /// The package: document, styles, settings, footer with page numbers, properties, media.
    ///
    /// # Errors
    /// `INTERNAL` when the archive cannot be written.
    pub fn finish(self, created: DateTime<Utc>) -> AppResult<Vec<u8>> {
        use zip::write::SimpleFileOptions;
        let deflated = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        let mut document = String::with_capacity(self.body.len() + 1024);
        let _ = write!(
            document,
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:document xmlns:w=\"{W_NS}\" \
             xmlns:r=\"{R_NS}\" xmlns:wp=\"{WP_NS}\" xmlns:a=\"{A_NS}\" xmlns:pic=\"{PIC_NS}\"><w:body>{}\
             <w:sectPr><w:footerReference w:type=\"default\" r:id=\"rIdFooter\"/>\
             <w:pgSz w:w=\"11906\" w:h=\"16838\"/><w:pgMar w:top=\"1134\" w:right=\"850\" w:bottom=\"1134\" \
             w:left=\"1701\" w:header=\"709\" w:footer=\"567\" w:gutter=\"0\"/><w:cols w:space=\"708\"/>\
             </w:sectPr></w:body></w:document>",
            self.body
        );
        let mut rels = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Relationships \
             xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
             <Relationship Id=\"rIdStyles\" Type=\"{R_NS}/styles\" Target=\"styles.xml\"/>\
             <Relationship Id=\"rIdSettings\" Type=\"{R_NS}/settings\" Target=\"settings.xml\"/>\
             <Relationship Id=\"rIdFooter\" Type=\"{R_NS}/footer\" Target=\"footer1.xml\"/>"
        );
        for i in 1..=self.images.len() {
            let _ =
                write!(rels, "<Relationship Id=\"rIdImage{i}\" Type=\"{R_NS}/image\" Target=\"media/image{i}.png\"/>");
        }
        rels.push_str("</Relationships>");
        let created = created.format("%Y-%m-%dT%H:%M:%SZ");
        let core = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<cp:coreProperties \
             xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" \
             xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><dc:title>{}</dc:title>\
             <dc:creator>Муниципальный центр управления</dc:creator><dc:language>{LANG}</dc:language>\
             <dcterms:created xsi:type=\"dcterms:W3CDTF\">{created}</dcterms:created>\
             <dcterms:modified xsi:type=\"dcterms:W3CDTF\">{created}</dcterms:modified></cp:coreProperties>",
            escape(&self.title)
        );
        let parts: [(&str, String); 8] = [
            ("[Content_Types].xml", CONTENT_TYPES.to_string()),
            ("_rels/.rels", PACKAGE_RELS.to_string()),
            ("docProps/core.xml", core),
            ("docProps/app.xml", APP.to_string()),
            ("word/document.xml", document),
            ("word/_rels/document.xml.rels", rels),
            ("word/styles.xml", styles()),
            ("word/settings.xml", SETTINGS.to_string()),
        ];
        let zip_error = |e: zip::result::ZipError| AppError::internal(format!("docx: {e}"));
        let io_error = |e: std::io::Error| AppError::internal(format!("docx: {e}"));
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, xml) in parts.iter().chain(std::iter::once(&("word/footer1.xml", footer()))) {
            zip.start_file(*name, deflated).map_err(zip_error)?;
            zip.write_all(xml.as_bytes()).map_err(io_error)?;
        }
        for (i, png) in self.images.iter().enumerate() {
            // PNG is compressed already.
            zip.start_file(format!("word/media/image{}.png", i + 1), stored).map_err(zip_error)?;
            zip.write_all(png).map_err(io_error)?;
        }
        Ok(zip.finish().map_err(zip_error)?.into_inner())
    }
}

/// Width and height of a PNG from its header.
pub fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if png.len() < 24 || !png.starts_with(SIGNATURE) || &png[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let h = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    (w > 0 && h > 0).then_some((w, h))
}

const CONTENT_TYPES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
<Default Extension=\"xml\" ContentType=\"application/xml\"/>\
<Default Extension=\"png\" ContentType=\"image/png\"/>\
<Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>\
<Override PartName=\"/word/styles.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml\"/>\
<Override PartName=\"/word/settings.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.settings+xml\"/>\
<Override PartName=\"/word/footer1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.footer+xml\"/>\
<Override PartName=\"/docProps/core.xml\" ContentType=\"application/vnd.openxmlformats-package.core-properties+xml\"/>\
<Override PartName=\"/docProps/app.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.extended-properties+xml\"/>\
</Types>";

const PACKAGE_RELS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/>\
<Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties\" Target=\"docProps/core.xml\"/>\
<Relationship Id=\"rId3\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties\" Target=\"docProps/app.xml\"/>\
</Relationships>";

const APP: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<Properties xmlns=\"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties\">\
<Application>mcu</Application></Properties>";

/// Settings: Russian as the theme language, the decimal comma and `;` as the list separator
/// (for fields), compatibility mode of Word 2013+.
const SETTINGS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<w:settings xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
<w:zoom w:percent=\"100\"/><w:defaultTabStop w:val=\"709\"/>\
<w:characterSpacingControl w:val=\"doNotCompress\"/>\
<w:compat><w:compatSetting w:name=\"compatibilityMode\" w:uri=\"http://schemas.microsoft.com/office/word\" w:val=\"15\"/></w:compat>\
<w:themeFontLang w:val=\"ru-RU\"/><w:decimalSymbol w:val=\",\"/><w:listSeparator w:val=\";\"/>\
</w:settings>";

/// «Страница N из M» at the bottom right of every page.
fn footer() -> String {
    let field = |name: &str| {
        format!(
            "<w:r><w:fldChar w:fldCharType=\"begin\"/></w:r><w:r><w:instrText xml:space=\"preserve\"> {name} </w:instrText></w:r>\
             <w:r><w:fldChar w:fldCharType=\"separate\"/></w:r><w:r><w:t>1</w:t></w:r><w:r><w:fldChar w:fldCharType=\"end\"/></w:r>"
        )
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:ftr xmlns:w=\"{W_NS}\" xmlns:r=\"{R_NS}\">\
         <w:p><w:pPr><w:pStyle w:val=\"Footer\"/></w:pPr><w:r><w:t xml:space=\"preserve\">Страница </w:t></w:r>{}\
         <w:r><w:t xml:space=\"preserve\"> из </w:t></w:r>{}</w:p></w:ftr>",
        field("PAGE"),
        field("NUMPAGES")
    )
}

/// A paragraph style: id, name, (based on), paragraph properties, run properties.
fn style(out: &mut String, id: &str, name: &str, extra: &str, ppr: &str, rpr: &str) {
    let _ = write!(
        out,
        "<w:style w:type=\"paragraph\" w:styleId=\"{id}\"{}><w:name w:val=\"{name}\"/>{extra}<w:qFormat/>\
         <w:pPr>{ppr}</w:pPr><w:rPr>{rpr}</w:rPr></w:style>",
        if id == "Normal" { " w:default=\"1\"" } else { "" }
    );
}

/// The styles: defaults (font, size, language) and the paragraph and table styles of [`Style`].
fn styles() -> String {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:styles xmlns:w=\"{W_NS}\">\
         <w:docDefaults><w:rPrDefault><w:rPr><w:rFonts w:ascii=\"{FONT}\" w:eastAsia=\"{FONT}\" w:hAnsi=\"{FONT}\" \
         w:cs=\"{FONT}\"/><w:sz w:val=\"28\"/><w:szCs w:val=\"28\"/><w:lang w:val=\"{LANG}\" w:eastAsia=\"{LANG}\" \
         w:bidi=\"ar-SA\"/></w:rPr></w:rPrDefault><w:pPrDefault><w:pPr><w:spacing w:after=\"0\" w:line=\"240\" \
         w:lineRule=\"auto\"/></w:pPr></w:pPrDefault></w:docDefaults>"
    );
    let based = "<w:basedOn w:val=\"Normal\"/><w:next w:val=\"Normal\"/>";
    let plain = "<w:basedOn w:val=\"Normal\"/>";
    style(
        &mut s,
        "Normal",
        "Normal",
        "",
        "<w:widowControl/><w:spacing w:after=\"60\" w:line=\"264\" w:lineRule=\"auto\"/><w:ind w:firstLine=\"709\"/><w:jc w:val=\"both\"/>",
        "",
    );
    style(&mut s, "Plain", "Plain Text Block", plain, "<w:ind w:firstLine=\"0\"/><w:jc w:val=\"left\"/>", "");
    style(
        &mut s,
        "Title",
        "Title",
        based,
        "<w:keepNext/><w:spacing w:before=\"240\" w:after=\"60\"/><w:ind w:firstLine=\"0\"/><w:jc w:val=\"center\"/>",
        "<w:b/><w:bCs/><w:caps/><w:sz w:val=\"32\"/><w:szCs w:val=\"32\"/>",
    );
    style(
        &mut s,
        "Subtitle",
        "Subtitle",
        based,
        "<w:keepNext/><w:spacing w:after=\"240\"/><w:ind w:firstLine=\"0\"/><w:jc w:val=\"center\"/>",
        "",
    );
    style(
        &mut s,
        "Heading1",
        "heading 1",
        based,
        "<w:keepNext/><w:keepLines/><w:spacing w:before=\"240\" w:after=\"120\"/><w:ind w:firstLine=\"0\"/>\
         <w:jc w:val=\"left\"/><w:outlineLvl w:val=\"0\"/>",
        "<w:b/><w:bCs/><w:sz w:val=\"30\"/><w:szCs w:val=\"30\"/>",
    );
    style(
        &mut s,
        "Heading2",
        "heading 2",
        based,
        "<w:keepNext/><w:keepLines/><w:spacing w:before=\"180\" w:after=\"60\"/><w:ind w:firstLine=\"0\"/>\
         <w:jc w:val=\"left\"/><w:outlineLvl w:val=\"1\"/>",
        "<w:b/><w:bCs/><w:i/><w:iCs/>",
    );
    style(
        &mut s,
        "Letterhead",
        "Letterhead",
        plain,
        "<w:pBdr><w:bottom w:val=\"single\" w:sz=\"12\" w:space=\"4\" w:color=\"000000\"/></w:pBdr>\
         <w:spacing w:after=\"240\"/><w:ind w:firstLine=\"0\"/><w:jc w:val=\"center\"/>",
        "<w:sz w:val=\"24\"/><w:szCs w:val=\"24\"/>",
    );
    style(
        &mut s,
        "TableText",
        "Table Text",
        plain,
        "<w:spacing w:after=\"0\" w:line=\"240\" w:lineRule=\"auto\"/><w:ind w:firstLine=\"0\"/><w:jc w:val=\"left\"/>",
        "<w:sz w:val=\"22\"/><w:szCs w:val=\"22\"/>",
    );
    style(
        &mut s,
        "TableHeading",
        "Table Heading",
        "<w:basedOn w:val=\"TableText\"/>",
        "<w:keepNext/><w:jc w:val=\"center\"/>",
        "<w:b/><w:bCs/>",
    );
    style(
        &mut s,
        "Figure",
        "Figure",
        plain,
        "<w:keepNext/><w:spacing w:before=\"120\" w:after=\"0\"/><w:ind w:firstLine=\"0\"/><w:jc w:val=\"center\"/>",
        "",
    );
    style(
        &mut s,
        "Caption",
        "caption",
        plain,
        "<w:spacing w:before=\"60\" w:after=\"240\"/><w:ind w:firstLine=\"0\"/><w:jc w:val=\"center\"/>",
        "<w:sz w:val=\"24\"/><w:szCs w:val=\"24\"/>",
    );
    style(
        &mut s,
        "Note",
        "Note",
        plain,
        "<w:spacing w:after=\"120\"/><w:ind w:firstLine=\"0\"/><w:jc w:val=\"left\"/>",
        &format!("<w:color w:val=\"{GREY}\"/><w:sz w:val=\"20\"/><w:szCs w:val=\"20\"/>"),
    );
    style(
        &mut s,
        "Footer",
        "footer",
        plain,
        "<w:ind w:firstLine=\"0\"/><w:jc w:val=\"right\"/>",
        &format!("<w:color w:val=\"{GREY}\"/><w:sz w:val=\"20\"/><w:szCs w:val=\"20\"/>"),
    );
    let margins = "<w:tblCellMar><w:top w:w=\"28\" w:type=\"dxa\"/><w:left w:w=\"85\" w:type=\"dxa\"/>\
                   <w:bottom w:w=\"28\" w:type=\"dxa\"/><w:right w:w=\"85\" w:type=\"dxa\"/></w:tblCellMar>";
    let border = |side: &str| format!("<w:{side} w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"000000\"/>");
    let borders: String = ["top", "left", "bottom", "right", "insideH", "insideV"].iter().map(|b| border(b)).collect();
    let _ = write!(
        s,
        "<w:style w:type=\"table\" w:default=\"1\" w:styleId=\"TableLayout\"><w:name w:val=\"Normal Table\"/>\
         <w:tblPr><w:tblInd w:w=\"0\" w:type=\"dxa\"/>{margins}</w:tblPr></w:style>\
         <w:style w:type=\"table\" w:styleId=\"TableGrid\"><w:name w:val=\"Table Grid\"/>\
         <w:basedOn w:val=\"TableLayout\"/><w:tblPr><w:tblBorders>{borders}</w:tblBorders>{margins}</w:tblPr></w:style>\
         </w:styles>"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_characters_xml_cannot_carry_are_dropped() {
        assert_eq!(escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
        assert_eq!(escape("x\u{1}\u{8}y\u{FFFF}\tz"), "xy\tz");
    }

    #[test]
    fn runs_turn_breaks_tabs_and_soft_hyphens_into_elements() {
        let mut out = String::new();
        run(&mut out, &Span::bold("Удовле\u{AD}творены\nвсе\tда"));
        assert_eq!(
            out,
            "<w:r><w:rPr><w:b/><w:bCs/></w:rPr><w:t xml:space=\"preserve\">Удовле</w:t><w:softHyphen/>\
             <w:t xml:space=\"preserve\">творены</w:t><w:br/><w:t xml:space=\"preserve\">все</w:t><w:tab/>\
             <w:t xml:space=\"preserve\">да</w:t></w:r>"
        );
    }

    #[test]
    fn png_size_reads_the_header_and_refuses_other_data() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&640u32.to_be_bytes());
        png.extend_from_slice(&480u32.to_be_bytes());
        assert_eq!(png_size(&png), Some((640, 480)));
        assert_eq!(png_size(b"GIF89a"), None);
        png[19] = 0;
        png[18] = 0;
        png[17] = 0;
        png[16] = 0;
        assert_eq!(png_size(&png), None, "zero width");
    }
}
