//! The masker against the labelled corpus `tests/data/pii_corpus.txt`: span-level precision and
//! recall per kind and overall, and the throughput. Run with
//! `cargo test --lib pii::corpus -- --nocapture` to see the figures.
//!
//! The corpus: one text a line (blank lines and lines starting with `#` skipped), each piece of
//! personal data written `⟦kind|text⟧` with the kinds of [`Kind::label`]. A found span counts
//! as right only when its kind and both its ends are those of a labelled one.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};

use super::{Kind, Span, find};

const CORPUS: &str = include_str!("../../../tests/data/pii_corpus.txt");
/// Texts written after the masker was tuned and never used to change it.
const HOLDOUT: &str = include_str!("../../../tests/data/pii_holdout.txt");

/// The figures reached when the corpus was written; the test fails below them (less a margin).
const MIN_PRECISION: f64 = 0.97;
const MIN_RECALL: f64 = 0.94;
const MIN_HOLDOUT_PRECISION: f64 = 0.95;
const MIN_HOLDOUT_RECALL: f64 = 0.90;

/// A text of the corpus without its labels, and the labelled spans.
fn parse(line: &str) -> Result<(String, Vec<Span>), String> {
    let mut text = String::new();
    let mut spans = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find('⟦') {
        text.push_str(&rest[..open]);
        let after = &rest[open + '⟦'.len_utf8()..];
        let close = after.find('⟧').ok_or_else(|| format!("no ⟧ in {line}"))?;
        let (label, surface) = after[..close].split_once('|').ok_or_else(|| format!("no | in {line}"))?;
        let kind = Kind::from_label(label).ok_or_else(|| format!("unknown kind {label} in {line}"))?;
        let start = text.len();
        text.push_str(surface);
        spans.push(Span { start, end: text.len(), kind });
        rest = &after[close + '⟧'.len_utf8()..];
    }
    text.push_str(rest);
    Ok((text, spans))
}

#[derive(Default, Clone, Copy)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Counts {
    fn precision(self) -> f64 {
        if self.tp + self.fp == 0 { 1.0 } else { self.tp as f64 / (self.tp + self.fp) as f64 }
    }
    fn recall(self) -> f64 {
        if self.tp + self.fn_ == 0 { 1.0 } else { self.tp as f64 / (self.tp + self.fn_) as f64 }
    }
}

/// The texts of a corpus file.
fn texts(corpus: &str) -> Vec<(String, Vec<Span>)> {
    corpus.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(|l| parse(l).unwrap()).collect()
}

/// Prints the figures per kind and overall, and every miss; returns the overall counts.
fn evaluate(name: &str, texts: &[(String, Vec<Span>)]) -> Counts {
    let mut per: BTreeMap<Kind, Counts> = BTreeMap::new();
    let mut misses = Vec::new();
    for (text, gold) in texts {
        let found = find(text);
        let gold_set: HashSet<Span> = gold.iter().copied().collect();
        let found_set: HashSet<Span> = found.iter().copied().collect();
        for s in &found {
            let c = per.entry(s.kind).or_default();
            if gold_set.contains(s) {
                c.tp += 1;
            } else {
                c.fp += 1;
                misses.push(format!("FP {:?} «{}» in: {text}", s.kind, &text[s.start..s.end]));
            }
        }
        for s in gold {
            if !found_set.contains(s) {
                per.entry(s.kind).or_default().fn_ += 1;
                misses.push(format!("FN {:?} «{}» in: {text}", s.kind, &text[s.start..s.end]));
            }
        }
    }
    let mut all = Counts::default();
    println!(
        "{name}: {} texts, {} without personal data",
        texts.len(),
        texts.iter().filter(|t| t.1.is_empty()).count()
    );
    println!("{:<10} {:>5} {:>5} {:>5} {:>9} {:>7}", "kind", "spans", "tp", "fp", "precision", "recall");
    for k in Kind::ALL {
        let c = per.get(&k).copied().unwrap_or_default();
        all.tp += c.tp;
        all.fp += c.fp;
        all.fn_ += c.fn_;
        println!(
            "{:<10} {:>5} {:>5} {:>5} {:>9.3} {:>7.3}",
            k.label(),
            c.tp + c.fn_,
            c.tp,
            c.fp,
            c.precision(),
            c.recall()
        );
    }
    println!(
        "{:<10} {:>5} {:>5} {:>5} {:>9.3} {:>7.3}",
        "overall",
        all.tp + all.fn_,
        all.tp,
        all.fp,
        all.precision(),
        all.recall()
    );
    for m in &misses {
        println!("{m}");
    }
    all
}

#[test]
fn the_masker_reaches_its_figures_on_the_labelled_corpus() {
    let texts = texts(CORPUS);
    assert!(texts.len() >= 200, "the corpus holds {} texts", texts.len());
    let all = evaluate("corpus", &texts);
    let holdout = evaluate("held out", &self::texts(HOLDOUT));
    // Throughput: the whole corpus masked repeatedly.
    let bytes: usize = texts.iter().map(|t| t.0.len()).sum();
    let rounds = 20;
    let started = std::time::Instant::now();
    let mut out = 0;
    for _ in 0..rounds {
        for (text, _) in &texts {
            out += super::mask_text(text).len();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "throughput: {:.1} MB/s ({} bytes × {rounds} in {secs:.3} s, {out} bytes out; a debug build unless --release)",
        (bytes * rounds) as f64 / secs / 1e6,
        bytes
    );
    assert!(all.precision() >= MIN_PRECISION, "precision {:.3}", all.precision());
    assert!(all.recall() >= MIN_RECALL, "recall {:.3}", all.recall());
    assert!(holdout.precision() >= MIN_HOLDOUT_PRECISION, "held-out precision {:.3}", holdout.precision());
    assert!(holdout.recall() >= MIN_HOLDOUT_RECALL, "held-out recall {:.3}", holdout.recall());
}

#[test]
fn the_corpus_format_is_read_as_written() {
    let (text, spans) = parse("звонил ⟦фио|Иван Петров⟧, тел ⟦тел|8 912 345-67-89⟧.").unwrap();
    assert_eq!(text, "звонил Иван Петров, тел 8 912 345-67-89.");
    assert_eq!(&text[spans[0].start..spans[0].end], "Иван Петров");
    assert_eq!(spans[1].kind, Kind::Phone);
}
