//! The weekly memo to the Head as office files: the note itself (DOCX, with letterhead, tables,
//! charts and a signature block) and its numbers (XLSX, with number formats and native charts).

use chrono::{DateTime, Duration, NaiveDate};
use rust_xlsxwriter::{Chart, ChartType, Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError};

use super::charts::{self, Bar, Line};
use super::docx::{Align, Column, Document, Span, Style, Table, cell};
use super::{CENTRE, DASH, count, date, decimal, decimal_commas, long_date, percent, place, round, score_100};
use crate::domain::access::Principal;
use crate::error::{AppError, AppResult};
use crate::service::analytics::{self, Filter, Granularity, GroupBy, Memo, Period, RatingRow, Summary, TrendSeries};
use crate::service::exports::excel_text;
use crate::state::AppState;

/// Weeks of the trend chart, the memo's week the last of them.
pub const TREND_WEEKS: i64 = 8;
/// Channels drawn as lines of their own; the rest are summed into one line.
const TREND_LINES: usize = 5;
/// Drivers of a rise named in the document's table (the workbook lists them all).
const DOC_DRIVERS: usize = 3;
/// Width of the figures in the document, in millimetres.
const FIGURE_MM: f64 = 160.0;

/// The memo with what its documents need besides: the weekly trend by channel, the letterhead's
/// place and when it was prepared.
#[derive(Debug, Clone)]
pub struct MemoReport {
    pub memo: Memo,
    /// Appeals per week and channel over [`TREND_WEEKS`] weeks ending with the memo's week,
    /// most appeals first.
    pub trend: Vec<TrendSeries>,
    /// The week starts of `trend`.
    pub weeks: Vec<NaiveDate>,
    pub place: Option<String>,
    pub prepared: DateTime<chrono_tz::Tz>,
    /// Appeals a recipient needs in the week to be ranked.
    pub rating_min_volume: u32,
}

/// The memo of the week starting on `week_start` within `filter`, with its weekly trend by
/// channel (from [`analytics::trend`]).
///
/// # Errors
/// As [`analytics::weekly_memo`].
pub async fn load(state: &AppState, who: &Principal, week_start: NaiveDate) -> AppResult<MemoReport> {
    let memo = analytics::weekly_memo(state, who, week_start).await?;
    let period = Period { from: week_start - Duration::weeks(TREND_WEEKS - 1), to: memo.week_end };
    let trend =
        analytics::trend(state, who, period, Granularity::Week, Some(GroupBy::Channel), &Filter::default()).await?;
    let weeks = analytics::buckets(Granularity::Week, period);
    let place = place(&state.db, crate::domain::analytics::reach(who)?.territory).await?;
    Ok(MemoReport {
        prepared: state.clock.now().with_timezone(&state.settings.timezone),
        rating_min_volume: state.settings.rating_min_volume,
        memo,
        trend,
        weeks,
        place,
    })
}

/// The lines of the trend chart: the channels with most appeals, the others summed.
pub fn trend_lines(trend: &[TrendSeries], weeks: usize) -> Vec<Line> {
    let mut lines: Vec<Line> = trend
        .iter()
        .take(TREND_LINES)
        .map(|s| Line { label: s.label.clone(), counts: s.points.iter().map(|p| p.count).collect() })
        .collect();
    if trend.len() > TREND_LINES {
        let mut rest = vec![0; weeks];
        for s in &trend[TREND_LINES..] {
            for (i, p) in s.points.iter().enumerate().take(weeks) {
                rest[i] += p.count;
            }
        }
        lines.push(Line { label: "Другие каналы".into(), counts: rest });
    }
    lines
}

/// A signed difference («+5», «−1,5», «0»).
fn signed(x: f64, digits: usize) -> String {
    let s = decimal(x, digits);
    if s.starts_with('\u{2212}') || s.chars().all(|c| c == '0' || c == ',') { s } else { format!("+{s}") }
}

/// One line of the totals: a count, a share or hours.
#[derive(Debug, Clone, Copy)]
enum Figure {
    Count(i64),
    Rate(Option<f64>),
    Hours(Option<f64>),
}

fn figures(s: &Summary) -> [(&'static str, Figure); 11] {
    [
        ("Поступило обращений", Figure::Count(s.total)),
        ("Дан ответ", Figure::Count(s.answered)),
        ("Доля ответов в срок", Figure::Rate(s.on_time_rate())),
        ("Просрочено сейчас", Figure::Count(s.overdue_now)),
        ("Срок истекает", Figure::Count(s.due_soon_now)),
        ("Медианное время ответа, ч", Figure::Hours(s.median_response_hours)),
        ("Доля ответов по существу", Figure::Rate(s.full_answer_rate())),
        ("Доля удовлетворённых ответом", Figure::Rate(s.satisfied_rate())),
        ("Доля повторных рассмотрений", Figure::Rate(s.reopened_rate())),
        ("Инциденты: доля реакций в срок", Figure::Rate(s.reaction_on_time_rate())),
        ("Инциденты: медианное время реакции, раб. ч", Figure::Hours(s.median_reaction_hours)),
    ]
}

fn shown(f: Figure) -> String {
    match f {
        Figure::Count(n) => count(n),
        Figure::Rate(r) => percent(r),
        Figure::Hours(h) => h.map_or_else(|| DASH.into(), |h| decimal(h, 1)),
    }
}

fn change(now: Figure, before: Figure) -> String {
    match (now, before) {
        (Figure::Count(a), Figure::Count(b)) => signed((a - b) as f64, 0),
        (Figure::Rate(Some(a)), Figure::Rate(Some(b))) => format!("{} п.\u{a0}п.", signed((a - b) * 100.0, 0)),
        (Figure::Hours(Some(a)), Figure::Hours(Some(b))) => signed(a - b, 1),
        _ => DASH.into(),
    }
}

fn columns(spec: &[(&str, u32, Align)]) -> Vec<Column> {
    spec.iter().map(|(t, w, a)| Column::new(*t, *w, *a)).collect()
}

/// A rating row as the documents show it: a recipient with no appeals in the week has no
/// volume and no score («нет обращений», «—»), whatever old deadlines fell in the week.
fn rating_cells(r: &RatingRow) -> [String; 8] {
    let rank = r.rank.map_or_else(|| DASH.into(), |x| x.to_string());
    if r.total == 0 {
        let d = || DASH.to_string();
        return [rank, r.recipient.name.clone(), "нет обраще\u{ad}ний".into(), d(), d(), d(), d(), d()];
    }
    [
        rank,
        r.recipient.name.clone(),
        count(r.total),
        percent(r.on_time_rate),
        percent(r.full_answer_rate),
        percent(r.satisfied_rate),
        r.median_response_hours.map_or_else(|| DASH.into(), |h| decimal(h, 1)),
        score_100(r.score).map_or_else(|| DASH.into(), |s| decimal(s, 0)),
    ]
}

/// The memo as a Word document.
///
/// # Errors
/// `INTERNAL` when a chart or the package cannot be written.
pub fn docx(report: &MemoReport) -> AppResult<Vec<u8>> {
    let m = &report.memo;
    let s = &m.summary;
    let period = format!("{} — {}", date(m.week_start), date(m.week_end));
    let mut doc = Document::new(format!("Аналитическая записка за неделю {period}"));

    let mut head = vec![Span::bold(CENTRE.to_uppercase())];
    if let Some(p) = &report.place {
        head.push(Span::new(format!("\n{p}")));
    }
    doc.paragraph(Style::Letterhead, &head);
    let mut top = Table::layout(columns(&[("", 4677, Align::Left), ("", 4678, Align::Right)]));
    top.row(vec![
        cell(format!("{}  №\u{a0}________", date(report.prepared.date_naive()))),
        cell("Главе муниципального образования"),
    ]);
    doc.table(&top);
    doc.paragraph(Style::Title, &[Span::new("Аналитическая записка")]);
    doc.paragraph(
        Style::Subtitle,
        &[Span::new(format!(
            "о работе с обращениями граждан за неделю с {} по {}",
            date(m.week_start),
            date(m.week_end)
        ))],
    );

    doc.heading(1, "1. Итоги недели");
    let mut t = Table::new(columns(&[
        ("Показатель", 4255, Align::Left),
        ("За неделю", 1700, Align::Right),
        ("За прошлую неделю", 1700, Align::Right),
        ("Изменение", 1700, Align::Right),
    ]));
    for ((name, now), (_, before)) in figures(s).into_iter().zip(figures(&m.previous)) {
        t.row(vec![cell(name), cell(shown(now)), cell(shown(before)), cell(change(now, before))]);
    }
    doc.table(&t);
    if !s.by_channel.is_empty() {
        let channels: Vec<String> = s.by_channel.iter().map(|c| format!("{} — {}", c.label, count(c.count))).collect();
        doc.text(format!("По каналам поступления: {}.", channels.join("; ")));
    }
    let lines = trend_lines(&report.trend, report.weeks.len());
    if lines.is_empty() {
        doc.text(format!("За {TREND_WEEKS} недель обращений не поступало."));
    } else {
        let png = charts::weekly_lines(&report.weeks, &lines)?;
        doc.figure(png, FIGURE_MM, &format!("Обращения по каналам за {TREND_WEEKS} недель, по неделям"))?;
    }

    doc.heading(1, "2. Рост по темам");
    if m.top_growth.is_empty() {
        doc.text("Роста числа обращений по темам не выявлено.");
    } else {
        let mut t = Table::new(columns(&[
            ("Тема", 2000, Align::Left),
            ("За неделю", 1000, Align::Right),
            ("В среднем за 3\u{a0}недели", 1250, Align::Right),
            ("Рост, раз", 850, Align::Right),
            ("Значимый рост", 1250, Align::Center),
            ("За счёт (главное)", 3005, Align::Left),
        ]));
        for g in &m.top_growth {
            let drivers: Vec<String> =
                g.drivers.iter().take(DOC_DRIVERS).map(|d| format!("{} (+{})", d.label, d.count)).collect();
            t.row(vec![
                cell(&g.label),
                cell(count(g.count)),
                cell(decimal(g.baseline, 1)),
                cell(decimal(g.growth, 1)),
                if g.significant { vec![Span::bold("да").color(super::docx::RED)] } else { cell("нет") },
                cell(drivers.join("; ")),
            ]);
        }
        doc.table(&t);
        let bars: Vec<Bar> = m
            .top_growth
            .iter()
            .map(|g| Bar { label: g.label.clone(), count: g.count, baseline: g.baseline, significant: g.significant })
            .collect();
        doc.figure(charts::growth_bars(&bars)?, FIGURE_MM, "Темы с наибольшим ростом обращений за неделю")?;
    }

    doc.heading(1, "3. Проблемные точки");
    if m.problem_points.is_empty() {
        doc.text("Скоплений однотипных обращений в одном месте не выявлено.");
    } else {
        let mut t = Table::new(columns(&[
            ("Тема", 4055, Align::Left),
            ("Обращений", 1500, Align::Right),
            ("Координаты центра", 3800, Align::Left),
        ]));
        for p in &m.problem_points {
            t.row(vec![
                cell(&p.category),
                cell(count(p.count)),
                cell(format!("{}° с.\u{a0}ш., {}° в.\u{a0}д.", decimal(p.latitude, 5), decimal(p.longitude, 5))),
            ]);
        }
        doc.table(&t);
    }

    doc.heading(1, "4. Просроченные обращения");
    let local = |t: DateTime<chrono::Utc>| date(t.with_timezone(&m.timezone).date_naive());
    if m.overdue_by_recipient.is_empty() {
        doc.text("Просроченных обращений нет.");
    } else {
        let total: i64 = m.overdue_by_recipient.iter().map(|g| g.count).sum();
        doc.text(format!("Без ответа после срока сейчас {} обращений.", count(total)));
        let mut t = Table::new(columns(&[
            ("Ответственный", 5155, Align::Left),
            ("Просрочено", 1800, Align::Right),
            ("Самый ранний срок", 2400, Align::Center),
        ]));
        for g in &m.overdue_by_recipient {
            t.row(vec![cell(&g.recipient), cell(count(g.count)), cell(local(g.oldest_due))]);
        }
        doc.table(&t);
        doc.heading(2, "Дольше всех без ответа");
        let mut t = Table::new(columns(&[
            ("Номер", 1700, Align::Left),
            ("Тема", 2800, Align::Left),
            ("Ответственный", 3355, Align::Left),
            ("Срок", 1500, Align::Center),
        ]));
        for a in &m.overdue_oldest {
            t.row(vec![cell(&a.number), cell(&a.category), cell(&a.recipient), cell(local(a.due_at))]);
        }
        doc.table(&t);
    }

    doc.heading(1, "5. Дорожные карты: просроченные мероприятия");
    if m.overdue_measures.is_empty() {
        doc.text("Просроченных мероприятий нет.");
    } else {
        let mut t = Table::new(columns(&[
            ("Дорожная карта", 2400, Align::Left),
            ("Мероприятие", 3155, Align::Left),
            ("Ответственный", 2300, Align::Left),
            ("Срок", 1500, Align::Center),
        ]));
        for x in &m.overdue_measures {
            t.row(vec![
                cell(&x.roadmap),
                cell(&x.measure),
                cell(&x.responsible),
                vec![Span::bold(date(x.due)).color(super::docx::RED)],
            ]);
        }
        doc.table(&t);
    }

    doc.heading(1, "6. Рейтинг ответственных получателей");
    if m.rating.is_empty() {
        doc.text("Обращений, назначенных получателям, за неделю не было.");
    } else {
        let mut t = Table::new(columns(&[
            ("Место", 850, Align::Center),
            ("Получатель", 2205, Align::Left),
            ("Обраще\u{ad}ний", 1200, Align::Right),
            ("В срок", 850, Align::Right),
            ("По существу", 1200, Align::Right),
            ("Удовлет\u{ad}ворены", 1200, Align::Right),
            ("Медиана, ч", 1150, Align::Right),
            ("Балл", 700, Align::Right),
        ]));
        for r in &m.rating {
            t.row(rating_cells(r).into_iter().map(cell).collect());
        }
        doc.table(&t);
        doc.paragraph(
            Style::Note,
            &[Span::new(format!(
                "Балл — от 0 до 100: взвешенные доли ответов в срок, по существу и удовлетворённых ответом. \
                 Место присваивается получателям, у которых за неделю не менее {} обращений. \
                 «Нет обращений»: за неделю получателю не поступало обращений, доли и балл не считаются.",
                report.rating_min_volume
            ))],
        );
    }

    doc.heading(1, "7. Поручения совещаний у Главы");
    if m.assignments.is_empty() {
        doc.text("Неисполненных поручений нет.");
    } else {
        let late = m.assignments.iter().filter(|a| a.days_late > 0).count();
        doc.text(format!(
            "Неисполненных поручений: {}, из них просрочено: {}.",
            count(m.assignments.len() as i64),
            count(late as i64)
        ));
        let mut t = Table::new(columns(&[
            ("Поручение", 3455, Align::Left),
            ("Исполнитель", 2200, Align::Left),
            ("Срок", 1300, Align::Center),
            ("Просрочено, дн.", 1100, Align::Right),
            ("Совещание", 1300, Align::Center),
        ]));
        for a in &m.assignments {
            let late =
                if a.days_late > 0 { vec![Span::bold(count(a.days_late)).color(super::docx::RED)] } else { cell(DASH) };
            t.row(vec![cell(&a.text), cell(&a.recipient), cell(date(a.due)), late, cell(date(a.meeting_on))]);
        }
        doc.table(&t);
    }

    doc.heading(1, "8. Опросы и голосования жителей");
    if m.polls.is_empty() {
        doc.text("Опросов за неделю не проводилось.");
    } else {
        let mut t = Table::new(columns(&[
            ("Опрос", 2600, Align::Left),
            ("Состояние", 1500, Align::Left),
            ("Участников", 1000, Align::Right),
            ("За неделю", 900, Align::Right),
            ("Проверено", 1000, Align::Right),
            ("Главные ответы", 2355, Align::Left),
        ]));
        for p in &m.polls {
            t.row(vec![
                cell(&p.title),
                cell(p.state()),
                cell(count(p.ballots)),
                cell(count(p.ballots_in_week)),
                cell(count(p.verified_ballots)),
                cell(p.top_line()),
            ]);
        }
        doc.table(&t);
        if m.polls.iter().any(|p| !p.verified) {
            doc.text(
                "Опросы без проверки участников считают голоса по любому ключу респондента: это не число подтверждённых жителей.",
            );
        }
    }

    doc.heading(1, "9. Рекомендации");
    for (i, r) in m.recommendations.iter().enumerate() {
        doc.text(format!("{}. {}", i + 1, decimal_commas(r)));
    }

    doc.paragraph(Style::Plain, &[]);
    doc.table(&signature("Руководитель\nмуниципального центра управления", None));
    doc.paragraph(Style::Plain, &[Span::new(long_date(report.prepared.date_naive()))]);
    doc.paragraph(
        Style::Note,
        &[Span::new(format!(
            "Сформировано автоматически {} ({}) по данным на это время.",
            report.prepared.format("%d.%m.%Y %H:%M"),
            report.prepared.timezone().name()
        ))],
    );
    doc.finish(report.prepared.with_timezone(&chrono::Utc))
}

/// The signature block: who signs, a line for the signature and the name (or a line for it),
/// each line with its caption under it.
pub fn signature(who: &str, name: Option<&str>) -> Table {
    let mut sign =
        Table::layout(columns(&[("", 4100, Align::Left), ("", 2200, Align::Center), ("", 3055, Align::Center)]));
    sign.style = Style::Plain;
    sign.bottom = true;
    sign.keep_together = true;
    let caption = |t: &str| vec![Span::new(t).italic().size(10).color(super::docx::GREY)];
    sign.row(vec![
        cell(who),
        cell("_____________"),
        cell(name.map_or_else(|| "__________________".into(), str::to_string)),
    ]);
    sign.row(vec![cell(""), caption("подпись"), caption("расшифровка подписи")]);
    sign
}

/// Number formats of the workbook. `[$-419]` marks them Russian, so that a spreadsheet program
/// that follows the format's locale (LibreOffice) writes decimal commas whatever the machine's
/// own locale; Excel shows them in the reader's regional settings either way.
const INT: &str = "[$-419]#,##0";
const RATE: &str = "[$-419]0.0%";
const ONE: &str = "[$-419]0.0";
const DATE: &str = "[$-419]dd.mm.yyyy";
const COORD: &str = "[$-419]0.00000";
/// Height of one line of text in a row, in points.
const LINE: f64 = 15.0;

/// Cell formats of the workbook.
pub(super) struct Formats {
    head: Format,
    text: Format,
    wrap: Format,
    int: Format,
    rate: Format,
    one: Format,
    date: Format,
    coord: Format,
    dash: Format,
}

impl Formats {
    pub(super) fn new() -> Self {
        let cell =
            || Format::new().set_border(FormatBorder::Thin).set_border_color("A6A6A6").set_align(FormatAlign::Top);
        Self {
            head: Format::new()
                .set_border(FormatBorder::Thin)
                .set_border_color("A6A6A6")
                .set_bold()
                .set_text_wrap()
                .set_align(FormatAlign::Center)
                .set_align(FormatAlign::VerticalCenter)
                .set_background_color("E7E6E6"),
            text: cell(),
            wrap: cell().set_text_wrap(),
            int: cell().set_num_format(INT),
            rate: cell().set_num_format(RATE),
            one: cell().set_num_format(ONE),
            date: cell().set_num_format(DATE),
            coord: cell().set_num_format(COORD),
            dash: cell().set_align(FormatAlign::Center),
        }
    }
}

/// A sheet being written: remembers the widest content of each column to fit the widths, and
/// the lines of wrapped cells to give their rows the height they need.
pub(super) struct Sheet<'a> {
    ws: &'a mut Worksheet,
    f: &'a Formats,
    /// Header lengths, in characters (bold: a little wider).
    head: Vec<f64>,
    widths: Vec<f64>,
    /// Columns of long text: wrapped at this width instead of growing.
    caps: Vec<(u16, f64)>,
    /// Characters of the wrapped cells, by row and column.
    wrapped: Vec<(u32, u16, f64)>,
}

impl<'a> Sheet<'a> {
    pub(super) fn new(wb: &'a mut Workbook, f: &'a Formats, name: &str, head: &[&str]) -> Result<Self, XlsxError> {
        let ws = wb.add_worksheet();
        ws.set_name(name)?;
        ws.set_freeze_panes(1, 0)?;
        ws.set_repeat_rows(0, 0)?;
        ws.set_paper_size(9).set_print_fit_to_pages(1, 0).set_footer("&CСтраница &P из &N");
        let mut sheet =
            Self { ws, f, head: Vec::new(), widths: vec![0.0; head.len()], caps: Vec::new(), wrapped: Vec::new() };
        for (col, h) in head.iter().enumerate() {
            sheet.ws.write_string_with_format(0, col as u16, *h, &sheet.f.head)?;
            let longest_word = h.split_whitespace().map(|w| w.chars().count()).max().unwrap_or(0) as f64;
            let length = h.chars().count() as f64 * 1.15;
            sheet.head.push(length);
            // A long header may take two lines; a short one and the longest word never break.
            let wanted = if length <= 16.0 { length } else { (length / 2.0).max(longest_word * 1.15) };
            sheet.fit(col as u16, wanted.min(length));
        }
        Ok(sheet)
    }

    pub(super) fn fit(&mut self, col: u16, chars: f64) {
        if let Some(w) = self.widths.get_mut(usize::from(col)) {
            *w = w.max(chars);
        }
    }

    pub(super) fn wrap_at(&mut self, col: u16, width: f64) {
        self.caps.push((col, width));
    }

    pub(super) fn text(&mut self, row: u32, col: u16, text: &str) -> Result<(), XlsxError> {
        let chars = text.chars().count() as f64;
        let format = if self.caps.iter().any(|(c, _)| *c == col) {
            self.wrapped.push((row, col, chars));
            &self.f.wrap
        } else {
            &self.f.text
        };
        self.ws.write_string_with_format(row, col, excel_text(text), format)?;
        self.fit(col, chars);
        Ok(())
    }

    pub(super) fn number(
        &mut self,
        row: u32,
        col: u16,
        value: f64,
        format: &Format,
        shown: &str,
    ) -> Result<(), XlsxError> {
        self.ws.write_number_with_format(row, col, value, format)?;
        self.fit(col, shown.chars().count() as f64);
        Ok(())
    }

    pub(super) fn int(&mut self, row: u32, col: u16, n: i64) -> Result<(), XlsxError> {
        let f = self.f;
        self.number(row, col, n as f64, &f.int, &count(n))
    }

    pub(super) fn rate(&mut self, row: u32, col: u16, r: Option<f64>) -> Result<(), XlsxError> {
        let f = self.f;
        match r.filter(|r| r.is_finite()) {
            Some(r) => self.number(row, col, round(r, 4), &f.rate, "100,0%"),
            None => self.dash(row, col),
        }
    }

    pub(super) fn one(&mut self, row: u32, col: u16, x: Option<f64>) -> Result<(), XlsxError> {
        let f = self.f;
        match x.filter(|x| x.is_finite()) {
            Some(x) => self.number(row, col, round(x, 1), &f.one, &decimal(x, 1)),
            None => self.dash(row, col),
        }
    }

    pub(super) fn dash(&mut self, row: u32, col: u16) -> Result<(), XlsxError> {
        self.ws.write_string_with_format(row, col, DASH, &self.f.dash)?;
        Ok(())
    }

    pub(super) fn date(&mut self, row: u32, col: u16, d: NaiveDate) -> Result<(), XlsxError> {
        use chrono::Datelike;
        let x = rust_xlsxwriter::ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8)?;
        self.ws.write_datetime_with_format(row, col, x, &self.f.date)?;
        self.fit(col, 10.0);
        Ok(())
    }

    /// Sets the fitted widths (content plus padding; wrapped columns at their cap) and the
    /// heights of rows with wrapped text, which spreadsheet programs do not grow on opening.
    pub(super) fn finish(self) -> Result<&'a mut Worksheet, XlsxError> {
        let mut widths = Vec::with_capacity(self.widths.len());
        for (col, w) in self.widths.iter().enumerate() {
            let cap = self.caps.iter().find(|(c, _)| usize::from(*c) == col).map_or(60.0, |(_, cap)| *cap);
            let width = w.min(cap);
            widths.push(width);
            self.ws.set_column_width(col as u16, (width + 2.0).max(8.0))?;
        }
        let lines = |chars: f64, width: f64| (chars / width.max(1.0)).ceil().max(1.0);
        let head = self.head.iter().zip(&widths).map(|(h, w)| lines(*h, *w)).fold(1.0, f64::max);
        if head > 1.0 {
            self.ws.set_row_height(0, LINE * head)?;
        }
        let mut rows: Vec<(u32, f64)> = Vec::new();
        for (row, col, chars) in &self.wrapped {
            let n = lines(*chars, widths.get(usize::from(*col)).copied().unwrap_or(60.0));
            match rows.iter_mut().find(|(r, _)| r == row) {
                Some((_, m)) => *m = m.max(n),
                None => rows.push((*row, n)),
            }
        }
        for (row, n) in rows.into_iter().filter(|(_, n)| *n > 1.0) {
            self.ws.set_row_height(row, LINE * n)?;
        }
        Ok(self.ws)
    }
}

fn write_xlsx(report: &MemoReport) -> Result<Vec<u8>, XlsxError> {
    let m = &report.memo;
    let f = Formats::new();
    let mut wb = Workbook::new();
    let props = rust_xlsxwriter::DocProperties::new()
        .set_title(format!("Аналитическая записка за неделю {} — {}", date(m.week_start), date(m.week_end)))
        .set_author(CENTRE);
    wb.set_properties(&props);

    let this_week = format!("Неделя {} — {}", date(m.week_start), date(m.week_end));
    let mut sh = Sheet::new(&mut wb, &f, "Итоги", &["Показатель", &this_week, "Прошлая неделя"])?;
    let mut row = 1;
    for ((name, now), (_, before)) in figures(&m.summary).into_iter().zip(figures(&m.previous)) {
        sh.text(row, 0, name)?;
        for (col, fig) in [(1, now), (2, before)] {
            match fig {
                Figure::Count(n) => sh.int(row, col, n)?,
                Figure::Rate(r) => sh.rate(row, col, r)?,
                Figure::Hours(h) => sh.one(row, col, h)?,
            }
        }
        row += 1;
    }
    for c in &m.summary.by_channel {
        sh.text(row, 0, &format!("В том числе: {}", c.label))?;
        sh.int(row, 1, c.count)?;
        let before = m.previous.by_channel.iter().find(|p| p.key == c.key).map_or(0, |p| p.count);
        sh.int(row, 2, before)?;
        row += 1;
    }
    sh.finish()?;

    let channels: Vec<&TrendSeries> = report.trend.iter().collect();
    let mut head: Vec<&str> = vec!["Неделя с"];
    head.extend(channels.iter().map(|s| s.label.as_str()));
    head.push("Всего");
    let mut sh = Sheet::new(&mut wb, &f, "Динамика", &head)?;
    let last_col = channels.len() as u16 + 1;
    for (i, week) in report.weeks.iter().enumerate() {
        let row = i as u32 + 1;
        sh.date(row, 0, *week)?;
        let mut total = 0;
        for (c, s) in channels.iter().enumerate() {
            let n = s.points.get(i).map_or(0, |p| p.count);
            total += n;
            sh.int(row, c as u16 + 1, n)?;
        }
        sh.int(row, last_col, total)?;
    }
    let ws = sh.finish()?;
    let rows = report.weeks.len() as u32;
    if !channels.is_empty() && rows > 0 {
        let mut chart = Chart::new(ChartType::Line);
        chart.title().set_name(&format!("Обращения по каналам за {TREND_WEEKS} недель"));
        for c in 1..=channels.len() as u16 {
            chart
                .add_series()
                .set_name(("Динамика", 0, c))
                .set_categories(("Динамика", 1, 0, rows, 0))
                .set_values(("Динамика", 1, c, rows, c))
                .set_marker(rust_xlsxwriter::ChartMarker::new().set_automatic());
        }
        // Weeks as labels, not a time scale (a date axis would tick every third day).
        chart.x_axis().set_name("Неделя с").set_text_axis(true).set_num_format("dd.mm");
        chart.y_axis().set_name("Обращений").set_num_format("0");
        chart.legend().set_position(rust_xlsxwriter::ChartLegendPosition::Bottom);
        chart.set_width(760).set_height(380);
        ws.insert_chart(rows + 2, 0, &chart)?;
    }

    let mut sh = Sheet::new(
        &mut wb,
        &f,
        "Рост",
        &["Тема", "За неделю", "В среднем за 3 недели", "Рост, раз", "Значимый рост", "За счёт"],
    )?;
    sh.wrap_at(5, 60.0);
    for (i, g) in m.top_growth.iter().enumerate() {
        let row = i as u32 + 1;
        sh.text(row, 0, &g.label)?;
        sh.int(row, 1, g.count)?;
        sh.one(row, 2, Some(g.baseline))?;
        sh.one(row, 3, Some(g.growth))?;
        sh.text(row, 4, if g.significant { "да" } else { "нет" })?;
        let drivers: Vec<String> = g.drivers.iter().map(|d| format!("{} (+{})", d.label, d.count)).collect();
        sh.text(row, 5, &drivers.join("; "))?;
    }
    let ws = sh.finish()?;
    let rows = m.top_growth.len() as u32;
    if rows > 0 {
        let mut chart = Chart::new(ChartType::Bar);
        chart.title().set_name("Темы с наибольшим ростом за неделю");
        for (col, color) in [(1u16, "1F4E79"), (2, "A6A6A6")] {
            chart
                .add_series()
                .set_name(("Рост", 0, col))
                .set_categories(("Рост", 1, 0, rows, 0))
                .set_values(("Рост", 1, col, rows, col))
                .set_format(
                    rust_xlsxwriter::ChartFormat::new()
                        .set_solid_fill(rust_xlsxwriter::ChartSolidFill::new().set_color(color)),
                );
        }
        // In a bar chart the vertical axis holds the categories: reversed, the largest rise is at
        // the top, as in the table.
        chart.y_axis().set_reverse().set_crossing(rust_xlsxwriter::ChartAxisCrossing::Max);
        chart.x_axis().set_num_format("0");
        chart.legend().set_position(rust_xlsxwriter::ChartLegendPosition::Bottom);
        chart.set_width(760).set_height(120 + 60 * rows);
        ws.insert_chart(rows + 2, 0, &chart)?;
    }

    let head =
        ["Место", "Получатель", "Обращений", "В срок", "По существу", "Удовлетворены", "Медиана, ч", "Балл (0–100)"];
    let mut sh = Sheet::new(&mut wb, &f, "Рейтинг", &head)?;
    for (i, r) in m.rating.iter().enumerate() {
        let row = i as u32 + 1;
        match r.rank {
            Some(rank) => sh.int(row, 0, i64::from(rank))?,
            None => sh.dash(row, 0)?,
        }
        sh.text(row, 1, &r.recipient.name)?;
        sh.int(row, 2, r.total)?;
        if r.total == 0 {
            for col in 3..=7 {
                sh.dash(row, col)?;
            }
            continue;
        }
        sh.rate(row, 3, r.on_time_rate)?;
        sh.rate(row, 4, r.full_answer_rate)?;
        sh.rate(row, 5, r.satisfied_rate)?;
        sh.one(row, 6, r.median_response_hours)?;
        sh.one(row, 7, score_100(r.score))?;
    }
    sh.finish()?;

    let mut sh = Sheet::new(&mut wb, &f, "Проблемные точки", &["Тема", "Обращений", "Широта", "Долгота"])?;
    for (i, p) in m.problem_points.iter().enumerate() {
        let row = i as u32 + 1;
        sh.text(row, 0, &p.category)?;
        sh.int(row, 1, p.count)?;
        let coord = &f.coord;
        sh.number(row, 2, round(p.latitude, 5), coord, "00.00000")?;
        sh.number(row, 3, round(p.longitude, 5), coord, "000.00000")?;
    }
    sh.finish()?;

    let tz = m.timezone;
    let mut sh = Sheet::new(&mut wb, &f, "Просрочено", &["Ответственный", "Просрочено", "Самый ранний срок"])?;
    for (i, g) in m.overdue_by_recipient.iter().enumerate() {
        let row = i as u32 + 1;
        sh.text(row, 0, &g.recipient)?;
        sh.int(row, 1, g.count)?;
        sh.date(row, 2, g.oldest_due.with_timezone(&tz).date_naive())?;
    }
    sh.finish()?;

    let mut sh = Sheet::new(&mut wb, &f, "Дольше всех без ответа", &["Номер", "Тема", "Ответственный", "Срок"])?;
    for (i, a) in m.overdue_oldest.iter().enumerate() {
        let row = i as u32 + 1;
        sh.text(row, 0, &a.number)?;
        sh.text(row, 1, &a.category)?;
        sh.text(row, 2, &a.recipient)?;
        sh.date(row, 3, a.due_at.with_timezone(&tz).date_naive())?;
    }
    sh.finish()?;

    let mut sh = Sheet::new(
        &mut wb,
        &f,
        "Мероприятия",
        &["Дорожная карта", "Просроченное мероприятие", "Ответственный", "Срок"],
    )?;
    sh.wrap_at(0, 40.0);
    sh.wrap_at(1, 60.0);
    for (i, x) in m.overdue_measures.iter().enumerate() {
        let row = i as u32 + 1;
        sh.text(row, 0, &x.roadmap)?;
        sh.text(row, 1, &x.measure)?;
        sh.text(row, 2, &x.responsible)?;
        sh.date(row, 3, x.due)?;
    }
    sh.finish()?;

    let mut sh = Sheet::new(
        &mut wb,
        &f,
        "Поручения",
        &["Поручение", "Исполнитель", "Срок", "Просрочено, дн.", "Совещание", "Дата совещания"],
    )?;
    sh.wrap_at(0, 60.0);
    for (i, a) in m.assignments.iter().enumerate() {
        let row = i as u32 + 1;
        sh.text(row, 0, &a.text)?;
        sh.text(row, 1, &a.recipient)?;
        sh.date(row, 2, a.due)?;
        sh.int(row, 3, a.days_late)?;
        sh.text(row, 4, &a.meeting)?;
        sh.date(row, 5, a.meeting_on)?;
    }
    sh.finish()?;

    let mut sh = Sheet::new(
        &mut wb,
        &f,
        "Опросы",
        &["Опрос", "Состояние", "Участников", "За неделю", "Проверено", "Главные ответы"],
    )?;
    sh.wrap_at(0, 40.0);
    sh.wrap_at(5, 80.0);
    for (i, p) in m.polls.iter().enumerate() {
        let row = i as u32 + 1;
        sh.text(row, 0, &p.title)?;
        sh.text(row, 1, &p.state())?;
        sh.int(row, 2, p.ballots)?;
        sh.int(row, 3, p.ballots_in_week)?;
        sh.int(row, 4, p.verified_ballots)?;
        sh.text(row, 5, &p.top_line())?;
    }
    sh.finish()?;

    let mut sh = Sheet::new(&mut wb, &f, "Рекомендации", &["№", "Рекомендация"])?;
    sh.wrap_at(1, 110.0);
    for (i, r) in m.recommendations.iter().enumerate() {
        let row = i as u32 + 1;
        sh.int(row, 0, row.into())?;
        sh.text(row, 1, &decimal_commas(r))?;
    }
    sh.finish()?;

    wb.save_to_buffer()
}

/// The memo's numbers as a workbook: totals, the weekly trend by channel and the growth (each
/// with a native chart), the rating on the 0–100 scale of the document, problem points,
/// overdue appeals and measures (dates as dates), recommendations.
///
/// # Errors
/// `INTERNAL` when the workbook cannot be written.
pub fn xlsx(report: &MemoReport) -> AppResult<Vec<u8>> {
    write_xlsx(report).map_err(AppError::internal)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::service::analytics::TrendPoint;

    #[test]
    fn changes_are_signed_with_a_real_minus() {
        assert_eq!(change(Figure::Count(6), Figure::Count(1)), "+5");
        assert_eq!(change(Figure::Count(1), Figure::Count(1)), "0");
        assert_eq!(change(Figure::Rate(Some(0.5)), Figure::Rate(Some(0.75))), "\u{2212}25 п.\u{a0}п.");
        assert_eq!(change(Figure::Hours(Some(12.0)), Figure::Hours(Some(10.55))), "+1,4");
        assert_eq!(change(Figure::Rate(None), Figure::Rate(Some(0.1))), "—");
    }

    #[test]
    fn channels_past_the_fifth_are_summed_into_one_line() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 16).unwrap();
        let series = |key: &str, n: i64| TrendSeries {
            key: key.into(),
            label: key.into(),
            points: vec![TrendPoint { start: d, count: n }, TrendPoint { start: d + Duration::weeks(1), count: 1 }],
        };
        let trend: Vec<TrendSeries> = (0..7).map(|i| series(&format!("c{i}"), 10 - i)).collect();
        let lines = trend_lines(&trend, 2);
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[5], Line { label: "Другие каналы".into(), counts: vec![5 + 4, 2] });
        assert_eq!(trend_lines(&trend[..2], 2).len(), 2);
    }
}
