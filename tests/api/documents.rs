//! The memo and roadmap documents read back over real HTTP: the DOCX parts parsed with
//! quick-xml (styles, fonts, language, tables, images), the workbook with calamine and its
//! XML (number formats, charts), and both DOCX rendered to PDF by LibreOffice.

use std::collections::HashMap;
use std::io::Read;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

const WEEK: &str = "2026-11-16";
const R1: &str = "Управление ЖКХ";
const R2: &str = "Управление дорожного хозяйства";
/// A recipient whose only appeal was received before the memo's week and answered on time,
/// with its deadline in the week: it has no appeals of the week.
const QUIET: &str = "Отдел без обращений";

async fn spawn() -> TestApp {
    spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await
}

async fn message(app: &TestApp, token: &str, input: Value) -> String {
    let mut i = json!({"kind": "MESSAGE", "channel": "POS", "text": "Обращение для записки"});
    if let (Some(obj), Some(extra)) = (i.as_object_mut(), input.as_object()) {
        for (k, v) in extra {
            obj.insert(k.clone(), v.clone());
        }
    }
    app.appeal(token, i).await.0
}

async fn assign(app: &TestApp, token: &str, id: &str, recipient: &str) {
    app.act(token, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
    app.act(token, "assignAppeal", "AssignAppealInput", json!({"id": id, "version": 2, "recipientId": recipient}))
        .await
        .data();
}

async fn answer(app: &TestApp, token: &str, id: &str, recipient: &str, at: &str) {
    assign(app, token, id, recipient).await;
    app.set_now(at);
    app.act(token, "answerAppeal", "AnswerAppealInput", json!({"id": id, "version": 3, "text": "Ответ"})).await.data();
}

/// The memo's week of 16–22 November 2026, seen on 27 November: snow appeals rising well
/// over their baseline, three answers 96, 71.5 and 48 hours after receipt (median 71.5 h),
/// an overdue appeal, appeals in two channels over earlier weeks, and [`QUIET`].
async fn memo_fixture() -> (TestApp, String) {
    let app = spawn().await;
    app.set_now("2026-11-21T08:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let r1 = app.recipient(&admin, R1).await;
    let r2 = app.recipient(&admin, R2).await;
    let quiet = app.recipient(&admin, QUIET).await;
    let city = app.territory(&admin, "г. Сорск", None).await;
    let district = app.territory(&admin, "Микрорайон Северный", Some(&city)).await;
    let snow = app.category(&curator, "Уборка снега и наледи").await;
    let heating = app.category(&curator, "Отопление").await;
    let at = |category: &str, channel: &str, when: &str| json!({"categoryId": category, "territoryId": district, "channel": channel, "receivedAt": when});
    for when in ["2026-10-28T10:00:00+07:00", "2026-11-04T10:00:00+07:00", "2026-11-11T10:00:00+07:00"] {
        message(&app, &curator, at(&snow, "POS", when)).await;
        message(&app, &curator, at(&heating, "EMAIL", when)).await;
    }
    // Received on 5 November, due in the memo's week: one answered on time by QUIET, one
    // left overdue with R1.
    let early = at(&heating, "POS", "2026-11-05T10:00:00+07:00");
    let on_time = message(&app, &curator, early.clone()).await;
    answer(&app, &curator, &on_time, &quiet, "2026-11-10T10:00:00+07:00").await;
    app.set_now("2026-11-21T08:00:00+07:00");
    let late = message(&app, &curator, early).await;
    assign(&app, &curator, &late, &r1).await;
    let mut week = Vec::new();
    for when in ["16T10:00", "17T10:30", "18T10:00", "19T10:00", "20T09:00", "20T09:30"] {
        week.push(message(&app, &curator, at(&snow, "POS", &format!("2026-11-{when}:00+07:00"))).await);
    }
    let email = message(&app, &curator, at(&heating, "EMAIL", "2026-11-17T12:00:00+07:00")).await;
    for id in &week[..3] {
        answer(&app, &curator, id, &r1, "2026-11-20T10:00:00+07:00").await;
        let input = json!({"id": id, "version": 4, "completeness": "FULL"});
        app.act(&curator, "assessAnswer", "AssessAnswerInput", input).await.data();
    }
    for id in &week[3..] {
        assign(&app, &curator, id, &r1).await;
    }
    assign(&app, &curator, &email, &r2).await;
    app.set_now("2026-11-27T12:00:00+07:00");
    (app, curator)
}

pub(crate) async fn download(app: &TestApp, token: &str, path: &str) -> Vec<u8> {
    let resp = app.client.get(format!("{}{path}", app.base)).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.bytes().await.unwrap().to_vec()
}

/// Every part of a ZIP package by name.
fn unzip(bytes: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut parts = HashMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut data = Vec::new();
        file.read_to_end(&mut data).unwrap();
        parts.insert(file.name().to_string(), data);
    }
    parts
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.try_get_attribute(name).unwrap().map(|a| a.normalized_value(XmlVersion::Implicit1_0).unwrap().into_owned())
}

/// One element of a flattened XML part: name, attributes, direct text, depth.
#[derive(Debug, Clone)]
struct El {
    name: String,
    attrs: HashMap<String, String>,
    text: String,
}

/// Every element of an XML part in document order (text of an element is appended to it).
fn elements(xml: &[u8]) -> Vec<El> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut out: Vec<El> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut buf = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buf).unwrap();
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        let key = a.key.as_ref().to_string();
                        (key, a.normalized_value(XmlVersion::Implicit1_0).unwrap().into_owned())
                    })
                    .collect();
                let name = e.name().as_ref().to_string();
                out.push(El { name, attrs, text: String::new() });
                if matches!(event, Event::Start(_)) {
                    open.push(out.len() - 1);
                }
            }
            Event::End(_) => {
                open.pop();
            }
            Event::Text(t) => {
                if let Some(i) = open.last() {
                    out[*i].text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.as_ref() {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    _ => r.resolve_char_ref().unwrap().unwrap(),
                };
                if let Some(i) = open.last() {
                    out[*i].text.push(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    out
}

#[derive(Debug, Default)]
struct Para {
    style: String,
    text: String,
}

#[derive(Debug, Default)]
struct Cell {
    width: Option<u32>,
    text: String,
    /// Some run of the cell is red.
    red: bool,
}

#[derive(Debug, Default)]
struct Row {
    header: bool,
    cells: Vec<Cell>,
}

#[derive(Debug, Default)]
struct Tbl {
    layout: Option<String>,
    grid: Vec<u32>,
    rows: Vec<Row>,
}

impl Tbl {
    fn row(&self, first: &str) -> &Row {
        self.rows
            .iter()
            .find(|r| {
                r.cells.first().is_some_and(|c| c.text == first) || r.cells.get(1).is_some_and(|c| c.text == first)
            })
            .unwrap_or_else(|| panic!("no row {first} in {self:#?}"))
    }
}

/// A DOCX package read back: its parts, body paragraphs (tables' own paragraphs are in
/// `tables`), tables and the relationship ids of its pictures.
pub(crate) struct Docx {
    parts: HashMap<String, Vec<u8>>,
    paras: Vec<Para>,
    tables: Vec<Tbl>,
    embeds: Vec<String>,
}

impl Docx {
    pub(crate) fn read(bytes: &[u8]) -> Self {
        assert!(bytes.starts_with(b"PK"), "a DOCX is a ZIP package");
        let parts = unzip(bytes);
        let xml = parts.get("word/document.xml").expect("word/document.xml");
        let mut reader = quick_xml::Reader::from_reader(xml.as_slice());
        let (mut paras, mut tables, mut embeds) = (Vec::new(), Vec::<Tbl>::new(), Vec::new());
        let (mut para, mut in_table, mut in_text) = (None::<Para>, 0usize, false);
        let mut buf = Vec::new();
        loop {
            let event = reader.read_event_into(&mut buf).unwrap();
            let empty = matches!(event, Event::Empty(_));
            match &event {
                Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                    "w:p" if !empty => para = Some(Para::default()),
                    "w:pStyle" => {
                        if let Some(p) = para.as_mut() {
                            p.style = attr(e, "w:val").unwrap();
                        }
                    }
                    "w:t" => in_text = !empty,
                    "w:br" => {
                        if let Some(p) = para.as_mut() {
                            p.text.push('\n');
                        }
                    }
                    "w:tbl" => {
                        in_table += 1;
                        tables.push(Tbl::default());
                    }
                    "w:tblLayout" => tables.last_mut().unwrap().layout = attr(e, "w:type"),
                    "w:gridCol" => tables.last_mut().unwrap().grid.push(attr(e, "w:w").unwrap().parse().unwrap()),
                    "w:tr" => tables.last_mut().unwrap().rows.push(Row::default()),
                    "w:tblHeader" => tables.last_mut().unwrap().rows.last_mut().unwrap().header = true,
                    "w:tc" => tables.last_mut().unwrap().rows.last_mut().unwrap().cells.push(Cell::default()),
                    "w:tcW" => {
                        let cell = tables.last_mut().unwrap().rows.last_mut().unwrap().cells.last_mut().unwrap();
                        assert_eq!(attr(e, "w:type").as_deref(), Some("dxa"), "cell widths are absolute");
                        cell.width = Some(attr(e, "w:w").unwrap().parse().unwrap());
                    }
                    "w:color" if in_table > 0 && attr(e, "w:val").as_deref() == Some("C00000") => {
                        if let Some(c) =
                            tables.last_mut().and_then(|t| t.rows.last_mut()).and_then(|r| r.cells.last_mut())
                        {
                            c.red = true;
                        }
                    }
                    "a:blip" => embeds.push(attr(e, "r:embed").unwrap()),
                    _ => {}
                },
                Event::Text(t) if in_text => {
                    if let Some(p) = para.as_mut() {
                        p.text.push_str(&t.xml10_content());
                    }
                }
                Event::GeneralRef(r) if in_text => {
                    let c = match r.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => r.resolve_char_ref().unwrap().unwrap(),
                    };
                    if let Some(p) = para.as_mut() {
                        p.text.push(c);
                    }
                }
                Event::End(e) => match e.name().as_ref() {
                    "w:t" => in_text = false,
                    "w:p" => {
                        let p = para.take().unwrap();
                        if in_table > 0 {
                            let cell = tables.last_mut().unwrap().rows.last_mut().unwrap().cells.last_mut().unwrap();
                            if !cell.text.is_empty() {
                                cell.text.push('\n');
                            }
                            cell.text.push_str(&p.text);
                        } else {
                            paras.push(p);
                        }
                    }
                    "w:tbl" => in_table -= 1,
                    _ => {}
                },
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
        Self { parts, paras, tables, embeds }
    }

    fn part(&self, name: &str) -> String {
        String::from_utf8(self.parts.get(name).unwrap_or_else(|| panic!("no part {name}")).clone()).unwrap()
    }

    /// All text: body paragraphs and table cells.
    pub(crate) fn text(&self) -> String {
        let mut all: Vec<&str> = self.paras.iter().map(|p| p.text.as_str()).collect();
        for t in &self.tables {
            for r in &t.rows {
                all.extend(r.cells.iter().map(|c| c.text.as_str()));
            }
        }
        all.join("\n")
    }

    fn styled(&self, style: &str) -> Vec<&str> {
        self.paras.iter().filter(|p| p.style == style).map(|p| p.text.as_str()).collect()
    }

    /// The table whose header row (or first row) holds this text.
    fn table(&self, head: &str) -> &Tbl {
        self.tables
            .iter()
            .find(|t| t.rows.first().is_some_and(|r| r.cells.iter().any(|c| c.text == head)))
            .unwrap_or_else(|| panic!("no table with {head}"))
    }

    /// Checks the house style every document shares: Heading styles defined with Word's
    /// built-in names, Times New Roman and ru-RU as defaults, fixed table layouts whose widths
    /// fit the text, data tables whose header row repeats.
    fn assert_house_style(&self) {
        let styles = elements(self.parts.get("word/styles.xml").unwrap());
        let style_name = |id: &str| {
            let at =
                styles.iter().position(|e| e.name == "w:style" && e.attrs.get("w:styleId").is_some_and(|s| s == id));
            at.map(|i| styles[i + 1].attrs.get("w:val").cloned().unwrap_or_default())
        };
        assert_eq!(style_name("Heading1").as_deref(), Some("heading 1"));
        assert_eq!(style_name("Heading2").as_deref(), Some("heading 2"));
        let defaults = styles.iter().position(|e| e.name == "w:docDefaults").expect("document defaults");
        let until = styles.iter().position(|e| e.name == "w:style").unwrap();
        let default = |name: &str, key: &str| {
            styles[defaults..until].iter().find(|e| e.name == name).and_then(|e| e.attrs.get(key)).cloned()
        };
        assert_eq!(default("w:rFonts", "w:ascii").as_deref(), Some("Times New Roman"));
        assert_eq!(default("w:rFonts", "w:hAnsi").as_deref(), Some("Times New Roman"));
        assert_eq!(default("w:lang", "w:val").as_deref(), Some("ru-RU"));
        assert!(!self.styled("Heading1").is_empty(), "headings use the Heading 1 style");
        let document = self.part("word/document.xml");
        assert!(!document.contains("<w:lang w:val=\"en"), "no run is marked English");
        assert!(!self.tables.is_empty());
        for t in &self.tables {
            assert_eq!(t.layout.as_deref(), Some("fixed"), "{t:#?}");
            assert!(t.grid.iter().sum::<u32>() <= 9355, "the table fits between the margins: {:?}", t.grid);
            for r in &t.rows {
                let widths: Vec<u32> = r.cells.iter().map(|c| c.width.unwrap()).collect();
                assert_eq!(widths, t.grid, "every cell has its column's width");
            }
        }
    }
}

/// Numbers written with a decimal point in the text: a run of digits with exactly one point
/// between digits (dates have two).
fn decimal_points(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_alphabetic()) {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let run: String = chars[start..i].iter().collect::<String>().trim_end_matches('.').to_string();
            if run.matches('.').count() == 1 {
                found.push(run);
            }
        } else {
            i += 1;
        }
    }
    found
}

/// A PNG decoded: width, height and how many colours it uses.
fn png_colours(png: &[u8]) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    let colours: std::collections::HashSet<&[u8]> = buf[..info.buffer_size()].chunks(step).collect();
    (info.width, info.height, colours.len())
}

#[tokio::test]
async fn the_memo_docx_is_a_document_with_styles_tables_charts_letterhead_and_signature() {
    let (app, curator) = memo_fixture().await;
    let doc = Docx::read(&download(&app, &curator, &format!("/exports/memo/{WEEK}.docx")).await);
    doc.assert_house_style();

    let headings = doc.styled("Heading1");
    for h in
        ["1. Итоги недели", "2. Рост по темам", "4. Просроченные обращения", "6. Рейтинг ответственных получателей"]
    {
        assert!(headings.contains(&h), "{h} is a Heading 1: {headings:?}");
    }
    assert_eq!(doc.styled("Title"), ["Аналитическая записка"]);
    assert_eq!(
        doc.styled("Subtitle"),
        ["о работе с обращениями граждан за неделю с 16.11.2026 по 22.11.2026"],
        "the period"
    );

    // Letterhead, date, addressee and the signature block.
    let letterhead = doc.styled("Letterhead");
    assert_eq!(letterhead, ["МУНИЦИПАЛЬНЫЙ ЦЕНТР УПРАВЛЕНИЯ\nг. Сорск"], "the centre and its municipality");
    let top = &doc.tables[0];
    assert!(top.rows[0].cells[0].text.starts_with("27.11.2026"), "dated the day it is made: {top:#?}");
    assert_eq!(top.rows[0].cells[1].text, "Главе муниципального образования");
    let sign = doc.tables.last().unwrap();
    assert_eq!(sign.rows[0].cells[0].text, "Руководитель\nмуниципального центра управления");
    assert!(sign.rows[0].cells[1].text.starts_with("____"), "a line to sign on");
    assert_eq!(
        (sign.rows[1].cells[1].text.as_str(), sign.rows[1].cells[2].text.as_str()),
        ("подпись", "расшифровка подписи")
    );
    assert!(doc.styled("Plain").contains(&"«27» ноября 2026 г."), "{:?}", doc.styled("Plain"));

    // Tables with headers that repeat on every page.
    let summary = doc.table("Показатель");
    assert!(summary.rows[0].header, "the header row repeats");
    assert!(summary.rows[1..].iter().all(|r| !r.header));
    let median = summary.row("Медианное время ответа, ч");
    assert_eq!(median.cells[1].text, "71,5", "the median of 96, 71.5 and 48 hours with a decimal comma");
    assert_eq!(summary.row("Поступило обращений").cells[3].text, "+5", "7 this week, 2 the week before");
    let growth = doc.table("Тема");
    assert!(growth.rows[0].header);
    let snow = growth.row("Дороги");
    assert_eq!((snow.cells[1].text.as_str(), snow.cells[2].text.as_str()), ("6", "1,0"), "{snow:#?}");
    assert_eq!(snow.cells[4].text, "да");

    // A recipient with no appeals in the week has no volume and no score.
    let rating = doc.table("Получатель");
    assert!(rating.rows[0].header, "the rating's header repeats");
    let quiet = rating.row(QUIET);
    let cells: Vec<&str> = quiet.cells.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(cells, ["—", QUIET, "нет обращений", "—", "—", "—", "—", "—"]);
    let r1 = rating.row(R1);
    assert_eq!(r1.cells[2].text, "6");
    assert!(r1.cells[7].text.parse::<u32>().is_ok_and(|s| (1..=100).contains(&s)), "{r1:#?}");

    // No number anywhere with a decimal point (dates keep theirs).
    let text = doc.text();
    assert_eq!(decimal_points(&text), Vec::<String>::new(), "{text}");
    assert!(text.contains("при среднем 1,0"), "the recommendations too: {text}");

    // Two charts, embedded as valid PNG pictures the document refers to.
    let captions = doc.styled("Caption");
    assert_eq!(
        captions,
        [
            "Рисунок 1 — Обращения по каналам за 8 недель, по неделям",
            "Рисунок 2 — Темы с наибольшим ростом обращений за неделю"
        ]
    );
    let rels = elements(doc.parts.get("word/_rels/document.xml.rels").unwrap());
    assert_eq!(doc.embeds.len(), 2);
    for id in &doc.embeds {
        let rel = rels.iter().find(|e| e.attrs.get("Id") == Some(id)).unwrap_or_else(|| panic!("no relationship {id}"));
        assert!(rel.attrs["Type"].ends_with("/image"));
        let png = doc.parts.get(&format!("word/{}", rel.attrs["Target"])).expect("the picture is in the package");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let (w, h, colours) = png_colours(png);
        assert!(w >= 1000 && h >= 300, "{w}×{h}");
        assert!(colours > 10, "a drawn chart, not a blank picture: {colours} colours");
    }
    let types = doc.part("[Content_Types].xml");
    assert!(types.contains("Extension=\"png\" ContentType=\"image/png\""), "{types}");

    // A week long before any appeal: the same document, saying so instead of drawing.
    let empty = Docx::read(&download(&app, &curator, "/exports/memo/2025-01-06.docx").await);
    empty.assert_house_style();
    assert!(empty.embeds.is_empty() && empty.styled("Caption").is_empty());
    let text = empty.text();
    assert!(text.contains("За 8 недель обращений не поступало.") && text.contains("Роста числа обращений"), "{text}");
}

/// The sheets of a workbook by name, as their XML part names.
fn sheet_parts(parts: &HashMap<String, Vec<u8>>) -> HashMap<String, String> {
    let book = elements(&parts["xl/workbook.xml"]);
    let rels = elements(&parts["xl/_rels/workbook.xml.rels"]);
    book.iter()
        .filter(|e| e.name == "sheet")
        .map(|s| {
            let id = &s.attrs["r:id"];
            let rel = rels.iter().find(|r| r.attrs.get("Id") == Some(id)).unwrap();
            (s.attrs["name"].clone(), format!("xl/{}", rel.attrs["Target"]))
        })
        .collect()
}

/// The number format code of a cell (`B4`) of a sheet.
fn number_format(parts: &HashMap<String, Vec<u8>>, sheet: &str, cell: &str) -> String {
    let sheets = sheet_parts(parts);
    let cells = elements(&parts[&sheets[sheet]]);
    let c = cells.iter().find(|e| e.name == "c" && e.attrs.get("r").is_some_and(|r| r == cell)).unwrap();
    let xf: usize = c.attrs.get("s").map_or(0, |s| s.parse().unwrap());
    let styles = elements(&parts["xl/styles.xml"]);
    let xfs_at = styles.iter().position(|e| e.name == "cellXfs").unwrap();
    let id = &styles[xfs_at..].iter().filter(|e| e.name == "xf").nth(xf).unwrap().attrs["numFmtId"];
    styles
        .iter()
        .find(|e| e.name == "numFmt" && &e.attrs["numFmtId"] == id)
        .map_or_else(|| format!("builtin {id}"), |e| e.attrs["formatCode"].clone())
}

#[tokio::test]
async fn the_memo_xlsx_has_number_formats_one_score_scale_dates_fitted_widths_and_charts() {
    use calamine::{Data, Reader, Xlsx};
    let (app, curator) = memo_fixture().await;
    let bytes = download(&app, &curator, &format!("/exports/memo/{WEEK}.xlsx")).await;
    let docx = Docx::read(&download(&app, &curator, &format!("/exports/memo/{WEEK}.docx")).await);
    let parts = unzip(&bytes);
    let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.clone())).unwrap();

    // Rates are shares with a percent format, hours and means one decimal.
    let totals = wb.worksheet_range("Итоги").unwrap();
    let row_of = |range: &calamine::Range<Data>, name: &str| {
        range
            .rows()
            .position(|r| r.iter().any(|c| matches!(c, Data::String(s) if s == name)))
            .unwrap_or_else(|| panic!("no row {name}"))
    };
    let on_time = row_of(&totals, "Доля ответов в срок");
    let median = row_of(&totals, "Медианное время ответа, ч");
    assert_eq!(totals.get((median, 1)), Some(&Data::Float(71.5)));
    assert!(matches!(totals.get((on_time, 1)), Some(Data::Float(r)) if (0.0..=1.0).contains(r)));
    assert!(number_format(&parts, "Итоги", &format!("B{}", on_time + 1)).ends_with("0.0%"));
    assert!(number_format(&parts, "Итоги", &format!("B{}", median + 1)).ends_with("]0.0"));
    let growth = wb.worksheet_range("Рост").unwrap();
    assert_eq!(growth.get((1, 0)), Some(&Data::String("Дороги".into())));
    assert_eq!(growth.get((1, 2)), Some(&Data::Float(1.0)), "the baseline");
    assert!(number_format(&parts, "Рост", "C2").ends_with("]0.0"));

    // No float artefacts: every number is what its format shows (at most 5 decimals).
    for name in wb.sheet_names() {
        for cell in wb.worksheet_range(&name).unwrap().used_cells() {
            if let (_, _, Data::Float(v)) = cell {
                let shown = (v * 1e5).round() / 1e5;
                assert!((v - shown).abs() < 1e-12, "{name}: {v}");
            }
        }
    }

    // One score scale, 0–100, as in the document; no volume and no score for QUIET.
    let rating = wb.worksheet_range("Рейтинг").unwrap();
    assert_eq!(rating.get((0, 7)), Some(&Data::String("Балл (0–100)".into())));
    let r1 = row_of(&rating, R1);
    let Some(Data::Float(score)) = rating.get((r1, 7)) else { panic!("{:?}", rating.get((r1, 7))) };
    let doc_score: f64 = docx.table("Получатель").row(R1).cells[7].text.parse().unwrap();
    assert!(*score > 1.0 && (score - doc_score).abs() <= 0.5, "{score} vs {doc_score}");
    assert!(number_format(&parts, "Рейтинг", &format!("D{}", r1 + 1)).ends_with("0.0%"));
    let quiet = row_of(&rating, QUIET);
    assert_eq!(rating.get((quiet, 2)), Some(&Data::Float(0.0)));
    for col in 3..=7 {
        assert_eq!(rating.get((quiet, col)), Some(&Data::String("—".into())), "column {col}");
    }

    // Dates are dates.
    let overdue = wb.worksheet_range("Просрочено").unwrap();
    let late = row_of(&overdue, R1);
    assert!(matches!(overdue.get((late, 2)), Some(Data::DateTime(_))), "{:?}", overdue.get((late, 2)));
    let trend = wb.worksheet_range("Динамика").unwrap();
    assert_eq!(trend.height(), 9, "a header and 8 weeks");
    assert!(matches!(trend.get((8, 0)), Some(Data::DateTime(_))));
    assert_eq!(trend.get((0, 1)), Some(&Data::String("ПОС".into())), "the busiest channel first");
    assert_eq!(trend.get((8, 1)), Some(&Data::Float(6.0)), "six ПОС appeals in the memo's week");

    // Widths fitted to the content: set for every column, the recipient's as wide as its
    // longest name.
    let sheets = sheet_parts(&parts);
    let cols = elements(&parts[&sheets["Рейтинг"]]);
    let mut widths: Vec<f64> = Vec::new();
    for col in cols.iter().filter(|e| e.name == "col") {
        let (min, max): (usize, usize) = (col.attrs["min"].parse().unwrap(), col.attrs["max"].parse().unwrap());
        assert_eq!(min, widths.len() + 1, "no column is left at the default width");
        widths.extend(std::iter::repeat_n(col.attrs["width"].parse::<f64>().unwrap(), max - min + 1));
    }
    assert_eq!(widths.len(), 8, "{widths:?}");
    assert!(widths[1] >= R2.chars().count() as f64, "{widths:?}");

    // Native charts: the weekly trend by channel and the growth, each anchored in its sheet.
    let line = String::from_utf8(parts["xl/charts/chart1.xml"].clone()).unwrap();
    let bar = String::from_utf8(parts["xl/charts/chart2.xml"].clone()).unwrap();
    assert!(line.contains("<c:lineChart>") && line.contains("Динамика"), "{line}");
    assert!(bar.contains("<c:barChart>") && bar.contains("Рост"), "{bar}");
    for sheet in ["Динамика", "Рост"] {
        assert!(String::from_utf8(parts[&sheets[sheet]].clone()).unwrap().contains("<drawing r:id="), "{sheet}");
    }
}

/// A roadmap on heating in a district, owned by a coordinator and approved by a curator with
/// real names, with a measure done, one overdue and one to come.
async fn roadmap_fixture(app: &TestApp) -> (String, String, String) {
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({"fullName": "Иванова Анна Петровна"})).await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({"fullName": "Петров Сергей Ильич"})).await;
    let zhkh = app.recipient(&admin, R1).await;
    let city = app.territory(&admin, "г. Сорск", None).await;
    let north = app.territory(&admin, "Микрорайон Северный", Some(&city)).await;
    let heating = app.category(&curator, "Отопление").await;
    let gql = |token: &str, q: &str, vars: Value| {
        let (app, token, q) = (app, token.to_string(), q.to_string());
        async move { app.gql(Some(&token), &q, vars).await.data().clone() }
    };
    let r = gql(
        &coordinator,
        "mutation($i:CreateRoadmapInput!){ r: createRoadmap(input:$i) { id version } }",
        json!({"i": {"title": "Теплоснабжение Северного", "problem": "Холодно в квартирах.\nПорывы теплотрассы.", "categoryId": heating, "territoryId": north}}),
    )
    .await;
    let id = r["r"]["id"].as_str().unwrap().to_string();
    let mut v = r["r"]["version"].as_i64().unwrap();
    for (title, due) in [
        ("Обследовать теплотрассу", "2026-11-20"),
        ("Заменить аварийный участок", "2026-12-02"),
        ("Промыть систему", "2026-12-20"),
    ] {
        let input = json!({"roadmapId": id, "version": v, "title": title, "responsibleId": zhkh, "dueDate": due});
        let r =
            gql(&coordinator, "mutation($i:MeasureInput!){ r: addMeasure(input:$i) { version } }", json!({"i": input}))
                .await;
        v = r["r"]["version"].as_i64().unwrap();
    }
    let step = |token: &str, m: &str, v: i64| {
        gql(
            token,
            &format!("mutation($id:ID!,$v:Int!){{ r: {m}(id:$id, version:$v) {{ version measures {{ id }} }} }}"),
            json!({"id": id, "v": v}),
        )
    };
    let v = step(&coordinator, "submitRoadmap", v).await["r"]["version"].as_i64().unwrap();
    let v = step(&curator, "approveRoadmap", v).await["r"]["version"].as_i64().unwrap();
    let r = step(&curator, "startRoadmap", v).await;
    let (v, first) = (r["r"]["version"].as_i64().unwrap(), r["r"]["measures"][0]["id"].clone());
    let input = json!({"roadmapId": id, "version": v, "measureId": first, "status": "DONE"});
    gql(&curator, "mutation($i:UpdateMeasureInput!){ r: updateMeasure(input:$i) { version } }", json!({"i": input}))
        .await;
    (curator, coordinator, id)
}

#[tokio::test]
async fn the_roadmap_docx_has_its_status_details_approval_block_and_overdue_marks() {
    let app = spawn().await;
    app.set_now("2026-12-05T10:00:00+07:00");
    let (curator, coordinator, id) = roadmap_fixture(&app).await;
    let doc = Docx::read(&download(&app, &curator, &format!("/exports/roadmaps/{id}.docx")).await);
    doc.assert_house_style();
    assert_eq!(doc.styled("Heading1"), ["1. Описание проблемы", "2. План мероприятий"]);
    assert_eq!(doc.styled("Title"), ["Дорожная карта"]);

    // «УТВЕРЖДАЮ» with the curator who approved it and the date.
    let top = &doc.tables[0];
    assert!(top.rows[0].cells[0].text.starts_with("МУНИЦИПАЛЬНЫЙ ЦЕНТР УПРАВЛЕНИЯ"));
    assert_eq!(
        top.rows[0].cells[1].text,
        "УТВЕРЖДАЮ\nКуратор муниципального центра управления\n\n____________ Иванова Анна Петровна\n«05» декабря 2026 г."
    );

    let details = &doc.tables[1];
    let detail = |name: &str| details.row(name).cells[1].text.clone();
    assert_eq!(detail("Статус"), "Исполняется, утверждена 05.12.2026 (Иванова Анна Петровна)");
    assert_eq!(detail("Тематика"), "ЖКХ / Отопление");
    assert_eq!(detail("Территория"), "Микрорайон Северный");
    assert_eq!(detail("Ответственный за подготовку"), "Петров Сергей Ильич");
    assert_eq!(detail("Исполнение"), "выполнено 1 из 3 мероприятий, просрочено 1");
    assert!(details.row("Исполнение").cells[1].red, "the overdue count is red");

    // The plan: the overdue measure marked, the done and the coming ones not.
    let plan = doc.table("Мероприятие");
    assert!(plan.rows[0].header, "the plan's header repeats on every page");
    let overdue = plan.row("Заменить аварийный участок");
    assert_eq!(
        (overdue.cells[2].text.as_str(), overdue.cells[4].text.as_str()),
        ("02.12.2026", "просрочено на 3\u{a0}дня")
    );
    assert!(overdue.cells[2].red && overdue.cells[4].red, "{overdue:#?}");
    let done = plan.row("Обследовать теплотрассу");
    assert_eq!(done.cells[4].text, "Выполнено 05.12.2026");
    assert!(!done.cells.iter().any(|c| c.red), "done in the end, not overdue");
    let coming = plan.row("Промыть систему");
    assert!(coming.cells[4].text.is_empty() && !coming.cells.iter().any(|c| c.red));
    assert_eq!(decimal_points(&doc.text()), Vec::<String>::new());
    let sign = doc.tables.last().unwrap();
    assert_eq!(sign.rows[0].cells[0].text, "Ответственный за подготовку");
    assert_eq!(sign.rows[0].cells[2].text, "Петров Сергей Ильич");

    // A draft is not approved: blank lines in the block, and it says so.
    let r = app
        .gql(
            Some(&coordinator),
            "mutation($i:CreateRoadmapInput!){ r: createRoadmap(input:$i) { id } }",
            json!({"i": {"title": "Черновик", "problem": "Проблема"}}),
        )
        .await;
    let draft = r.data()["r"]["id"].as_str().unwrap().to_string();
    let doc = Docx::read(&download(&app, &curator, &format!("/exports/roadmaps/{draft}.docx")).await);
    let block = &doc.tables[0].rows[0].cells[1].text;
    assert!(block.starts_with("УТВЕРЖДАЮ") && block.ends_with("«___» ____________ 20___ г."), "{block}");
    assert_eq!(doc.tables[1].row("Статус").cells[1].text, "Проект, не утверждена");
    assert_eq!(doc.tables[1].row("Тематика").cells[1].text, "—");
}

/// LibreOffice on `PATH`; the test fails without it (tests/run.sh installs it).
fn soffice() -> std::path::PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("soffice")).find(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!(
                "this test renders documents with LibreOffice: run tests/run.sh (it installs it) or \
                 `apt-get install -y libreoffice-writer libreoffice-calc`"
            )
        })
}

/// Pages of a PDF as LibreOffice writes it (page objects are not compressed).
fn pdf_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    text.match_indices("/Type")
        .filter(|(i, _)| {
            let rest = text[i + 5..].trim_start();
            rest.starts_with("/Page") && !rest.starts_with("/Pages")
        })
        .count()
}

#[tokio::test]
async fn libreoffice_renders_the_memo_and_the_roadmap_to_pdf() {
    let soffice = soffice();
    let dir = tempfile::tempdir().unwrap();
    let memo = dir.path().join("memo.docx");
    let (app, curator) = memo_fixture().await;
    std::fs::write(&memo, download(&app, &curator, &format!("/exports/memo/{WEEK}.docx")).await).unwrap();
    let app = spawn().await;
    app.set_now("2026-12-05T10:00:00+07:00");
    let (curator, _, roadmap) = roadmap_fixture(&app).await;
    let plan = dir.path().join("roadmap.docx");
    std::fs::write(&plan, download(&app, &curator, &format!("/exports/roadmaps/{roadmap}.docx")).await).unwrap();
    // A profile of its own: a LibreOffice already running would take the conversion over.
    let profile = format!("-env:UserInstallation=file://{}", dir.path().join("profile").display());
    let outdir = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(soffice)
            .args(["--headless", &profile, "--convert-to", "pdf", "--outdir"])
            .arg(outdir)
            .args([&memo, &plan])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(out.status.success(), "soffice failed: {}", String::from_utf8_lossy(&out.stderr));
    for (name, pages) in [("memo.pdf", 2..=8), ("roadmap.pdf", 1..=3)] {
        let pdf = std::fs::read(dir.path().join(name))
            .unwrap_or_else(|e| panic!("{name} was not written ({e}): {}", String::from_utf8_lossy(&out.stdout)));
        assert!(pdf.starts_with(b"%PDF-"), "{name}");
        let n = pdf_pages(&pdf);
        assert!(pages.contains(&n), "{name}: {n} pages");
    }
}
