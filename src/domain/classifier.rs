//! Topic suggestion for incoming appeals: a multinomial naive Bayes classifier
//! over Snowball stems.
//!
//! Naive Bayes is chosen because it trains in one pass over the historical
//! appeals, needs no tuning, copes with hundreds of topics and a few thousand
//! examples, and its model is a table of counts that serialises to JSON, so
//! it can be persisted and reloaded without retraining.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::text::tokens;

/// Version of the persisted model layout and of the feature pipeline it was
/// trained with; a stored model with another value must be retrained.
pub const MODEL_FORMAT: u32 = 1;

/// Training knobs. The defaults suit the appeal corpus of a city district.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    /// Laplace (additive) smoothing constant; 1.0 is classic Laplace.
    pub alpha: f64,
    /// Stems seen in fewer documents than this are dropped from the
    /// vocabulary, but only once the corpus has at least
    /// `large_corpus_docs` documents: on a large corpus one-off typos and
    /// house numbers only bloat the model, on a small one every word counts.
    pub min_document_frequency: u32,
    /// Corpus size from which `min_document_frequency` applies.
    pub large_corpus_docs: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self { alpha: 1.0, min_document_frequency: 2, large_corpus_docs: 1000 }
    }
}

/// Per-label counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LabelStats {
    id: i64,
    /// Training documents with this label (for the prior).
    docs: u64,
    /// Total in-vocabulary token occurrences in those documents.
    tokens: u64,
}

/// A trained multinomial naive Bayes model over label ids (`i64`, e.g. topic
/// ids from the database).
///
/// Serialises to JSON (`serde_json::to_string`) for persistence. The
/// `fingerprint` is not used by the model itself: the caller stores there a
/// summary of the training data (see [`training_fingerprint`]) and retrains
/// when the current data no longer matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NaiveBayes {
    /// Layout/pipeline version, see [`MODEL_FORMAT`].
    pub format: u32,
    /// Caller-defined summary of the training set, 0 by default.
    #[serde(default)]
    pub fingerprint: u64,
    alpha: f64,
    total_docs: u64,
    /// Sorted by id.
    labels: Vec<LabelStats>,
    /// Stem → sparse list of (index into `labels`, occurrence count).
    counts: BTreeMap<String, Vec<(u32, u64)>>,
}

/// A compact fingerprint of a training set, e.g. from
/// `SELECT count(*), max(id)` over the labelled appeals: it changes whenever
/// rows are added (or deleted and re-added), so a stored model whose
/// `fingerprint` differs should be retrained.
pub fn training_fingerprint(row_count: u64, max_id: i64) -> u64 {
    let mut h = row_count.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (max_id as u64);
    h ^= h >> 31;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^ (h >> 29)
}

impl NaiveBayes {
    /// Trains with [`TrainOptions::default`] on `(label id, text)` pairs.
    pub fn train<'a>(samples: impl IntoIterator<Item = (i64, &'a str)>) -> Self {
        Self::train_with(samples, TrainOptions::default())
    }

    /// Trains on `(label id, text)` pairs with explicit options.
    ///
    /// A document with no usable tokens still counts towards its label's prior.
    pub fn train_with<'a>(samples: impl IntoIterator<Item = (i64, &'a str)>, options: TrainOptions) -> Self {
        let mut docs_per_label: BTreeMap<i64, u64> = BTreeMap::new();
        let mut raw: HashMap<String, HashMap<i64, u64>> = HashMap::new();
        let mut doc_freq: HashMap<String, u32> = HashMap::new();
        let mut total_docs = 0_u64;
        for (label, text) in samples {
            total_docs += 1;
            *docs_per_label.entry(label).or_default() += 1;
            let toks = tokens(text);
            let distinct: HashSet<&String> = toks.iter().collect();
            for t in distinct {
                *doc_freq.entry(t.clone()).or_default() += 1;
            }
            for t in toks {
                *raw.entry(t).or_default().entry(label).or_default() += 1;
            }
        }

        let min_df = if total_docs as usize >= options.large_corpus_docs { options.min_document_frequency } else { 1 };
        let mut labels: Vec<LabelStats> =
            docs_per_label.into_iter().map(|(id, docs)| LabelStats { id, docs, tokens: 0 }).collect();
        let index: HashMap<i64, u32> = labels.iter().enumerate().map(|(i, l)| (l.id, i as u32)).collect();

        let mut counts = BTreeMap::new();
        for (stem, per_label) in raw {
            if doc_freq.get(&stem).copied().unwrap_or(0) < min_df {
                continue;
            }
            let mut entries: Vec<(u32, u64)> = per_label.into_iter().map(|(label, n)| (index[&label], n)).collect();
            entries.sort_unstable();
            for &(i, n) in &entries {
                labels[i as usize].tokens += n;
            }
            counts.insert(stem, entries);
        }

        Self {
            format: MODEL_FORMAT,
            fingerprint: 0,
            alpha: if options.alpha > 0.0 { options.alpha } else { 1.0 },
            total_docs,
            labels,
            counts,
        }
    }

    /// Sets the caller-defined training-set fingerprint (builder style).
    #[must_use]
    pub fn with_fingerprint(mut self, fingerprint: u64) -> Self {
        self.fingerprint = fingerprint;
        self
    }

    /// Number of distinct stems the model knows.
    pub fn vocabulary_size(&self) -> usize {
        self.counts.len()
    }

    /// Label ids seen in training, ascending.
    pub fn labels(&self) -> Vec<i64> {
        self.labels.iter().map(|l| l.id).collect()
    }

    /// Number of training documents.
    pub fn document_count(&self) -> u64 {
        self.total_docs
    }

    /// Whether the model was produced by the current [`MODEL_FORMAT`].
    pub fn is_current_format(&self) -> bool {
        self.format == MODEL_FORMAT
    }

    /// Log-posterior (up to a shared constant) of every label, in label order.
    /// Stems unknown to the model are ignored, so a text made only of unknown
    /// words yields the log-priors.
    fn log_posteriors(&self, stems: &[String]) -> Vec<f64> {
        let vocab = self.counts.len() as f64;
        let total = self.total_docs.max(1) as f64;
        let mut scores: Vec<f64> = self.labels.iter().map(|l| (l.docs as f64 / total).ln()).collect();
        let mut known = 0_u64;
        for stem in stems {
            let Some(entries) = self.counts.get(stem) else {
                continue;
            };
            known += 1;
            // log((c + α) / (N + αV)) = log(c + α) − log(N + αV); the first
            // term is log α for labels that never saw the stem, so add that
            // to everyone and correct the labels that did.
            for &(i, c) in entries {
                scores[i as usize] += ((c as f64 + self.alpha) / self.alpha).ln();
            }
        }
        if known > 0 {
            for (score, label) in scores.iter_mut().zip(&self.labels) {
                let denom = label.tokens as f64 + self.alpha * vocab;
                *score += known as f64 * (self.alpha / denom).ln();
            }
        }
        scores
    }

    /// Posterior probabilities of all labels for already tokenised input,
    /// sorted by probability descending (ties by label id).
    pub fn predict_tokens(&self, stems: &[String], top: usize) -> Vec<(i64, f64)> {
        let scores = self.log_posteriors(stems);
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !max.is_finite() {
            return Vec::new();
        }
        let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        let mut ranked: Vec<(i64, f64)> = self.labels.iter().zip(exp).map(|(l, e)| (l.id, e / sum)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(top);
        ranked
    }

    /// The `top` most probable labels for `text` with their posterior
    /// probabilities (a softmax of the log-posteriors: they sum to 1 over all
    /// labels). A text with no known stems (empty, or all new words) gets the
    /// label priors. An untrained model returns an empty list.
    ///
    /// Naive Bayes is overconfident on long texts; treat the values as a
    /// ranking score with a rough confidence, not as exact probabilities.
    pub fn predict(&self, text: &str, top: usize) -> Vec<(i64, f64)> {
        self.predict_tokens(&tokens(text), top)
    }
}

/// Top-1 and top-3 accuracy of `model` on `(true label, text)` pairs, each in
/// `0.0..=1.0`; `(0.0, 0.0)` for an empty set.
pub fn evaluate<'a>(model: &NaiveBayes, held_out: impl IntoIterator<Item = (i64, &'a str)>) -> (f64, f64) {
    let (mut n, mut top1, mut top3) = (0_u64, 0_u64, 0_u64);
    for (label, text) in held_out {
        n += 1;
        let predicted = model.predict(text, 3);
        if predicted.first().is_some_and(|p| p.0 == label) {
            top1 += 1;
        }
        if predicted.iter().any(|p| p.0 == label) {
            top3 += 1;
        }
    }
    if n == 0 {
        return (0.0, 0.0);
    }
    (top1 as f64 / n as f64, top3 as f64 / n as f64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const HEATING: i64 = 1;
    const ROADS: i64 = 2;
    const GARBAGE: i64 = 3;
    const TRANSPORT: i64 = 4;

    fn corpus() -> Vec<(i64, &'static str)> {
        vec![
            (HEATING, "В квартире нет отопления, батареи холодные"),
            (HEATING, "Холодные батареи уже третий день"),
            (HEATING, "Отключили отопление в доме, дети мёрзнут"),
            (HEATING, "Батарея в комнате еле тёплая, дома холодно"),
            (HEATING, "Когда дадут отопление? В подъезде холодно"),
            (HEATING, "Радиатор отопления не греет"),
            (HEATING, "Плохо греют батареи, температура в квартире 15 градусов"),
            (HEATING, "Нет тепла в доме, батареи ледяные"),
            (HEATING, "Прорвало трубу отопления в подвале, батареи остыли"),
            (HEATING, "Холодно в квартирах, отопительный сезон начался, а тепла нет"),
            (ROADS, "Огромная яма на дороге возле дома"),
            (ROADS, "Разбитый асфальт на проезжей части"),
            (ROADS, "Ямы на дороге, невозможно проехать"),
            (ROADS, "Просим отремонтировать асфальт во дворе"),
            (ROADS, "Глубокая выбоина на дороге, повредил колесо"),
            (ROADS, "Дорога вся в ямах после зимы"),
            (ROADS, "Провал асфальта на перекрёстке"),
            (ROADS, "Нужен ремонт дорожного покрытия, сплошные ямы"),
            (ROADS, "Асфальт положили плохо, дорога разрушается"),
            (ROADS, "Яму на дороге засыпали щебнем, но она снова появилась"),
            (GARBAGE, "Мусор не вывозят уже неделю"),
            (GARBAGE, "Контейнеры переполнены, мусор лежит вокруг"),
            (GARBAGE, "Не вывозят мусор с контейнерной площадки"),
            (GARBAGE, "Возле контейнеров свалка, мусор разносит ветер"),
            (GARBAGE, "Мусоровоз не приезжал три дня"),
            (GARBAGE, "Переполненные мусорные баки во дворе"),
            (GARBAGE, "Установите больше контейнеров для мусора"),
            (GARBAGE, "Вывоз мусора не производится, контейнеры полные"),
            (GARBAGE, "Крупногабаритный мусор не вывозят"),
            (GARBAGE, "Грязная контейнерная площадка, мусор везде"),
            (TRANSPORT, "Автобус не пришёл по расписанию"),
            (TRANSPORT, "Маршрут 12 отменили, как добираться на работу"),
            (TRANSPORT, "Автобусы ходят редко, ждали час на остановке"),
            (TRANSPORT, "Водитель автобуса не остановился на остановке"),
            (TRANSPORT, "Изменили маршрут автобуса без предупреждения"),
            (TRANSPORT, "Переполненный автобус утром, нужен дополнительный рейс"),
            (TRANSPORT, "Нет автобусов после 21 часа"),
            (TRANSPORT, "Верните маршрут через наш район"),
            (TRANSPORT, "Автобус опаздывает на полчаса каждый день"),
            (TRANSPORT, "Маршрутка не соблюдает расписание, остановку проезжает"),
        ]
    }

    fn unseen() -> Vec<(i64, &'static str)> {
        vec![
            (HEATING, "батарея холодная"),
            (HEATING, "у нас холодные батареи"),
            (HEATING, "нет батарей и отопления в новом доме"),
            (HEATING, "Отопление отключено, в квартире холодно"),
            (ROADS, "на дорогах сплошные ямы"),
            (ROADS, "асфальтом засыпьте яму на дороге"),
            (ROADS, "яма на дороге у остановки пусть отремонтируют асфальт"),
            (GARBAGE, "мусор давно не вывозили"),
            (GARBAGE, "контейнер переполнен мусором"),
            (GARBAGE, "контейнерами заставили двор, вывоз мусора нерегулярный"),
            (TRANSPORT, "автобусы не приходят"),
            (TRANSPORT, "маршрута автобуса больше нет"),
            (TRANSPORT, "на остановке не дождаться автобуса"),
        ]
    }

    fn model() -> NaiveBayes {
        NaiveBayes::train(corpus())
    }

    #[test]
    fn top1_is_right_on_unseen_phrasings() {
        let m = model();
        for (label, text) in unseen() {
            let p = m.predict(text, 1);
            assert_eq!(p[0].0, label, "{text}: {:?}", m.predict(text, 4));
        }
        let (top1, top3) = evaluate(&m, unseen());
        assert!((top1 - 1.0).abs() < 1e-12);
        assert!((top3 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn battery_word_forms_all_mean_heating() {
        let m = model();
        for text in ["батарея", "батареи", "батарей", "батареям"] {
            assert_eq!(m.predict(text, 1)[0].0, HEATING, "{text}");
        }
    }

    #[test]
    fn probabilities_sum_to_one() {
        let m = model();
        let all = m.predict("яма на дороге и мусор у остановки автобуса", 10);
        assert_eq!(all.len(), 4);
        let sum: f64 = all.iter().map(|p| p.1).sum();
        assert!((sum - 1.0).abs() < 1e-9, "{sum}");
        assert!(all.windows(2).all(|w| w[0].1 >= w[1].1));
        let top2: f64 = m.predict("яма", 2).iter().map(|p| p.1).sum();
        assert!(top2 <= 1.0 + 1e-12);
    }

    #[test]
    fn unknown_or_empty_text_returns_priors() {
        let m = NaiveBayes::train(vec![(7, "мусор"), (7, "мусор контейнер"), (7, "свалка"), (9, "яма")]);
        for text in ["", "и в на", "квантовая хромодинамика"] {
            let p = m.predict(text, 5);
            assert_eq!(p.len(), 2);
            assert_eq!(p[0].0, 7);
            assert!((p[0].1 - 0.75).abs() < 1e-12);
            assert!((p[1].1 - 0.25).abs() < 1e-12);
        }
    }

    #[test]
    fn empty_model_predicts_nothing() {
        let m = NaiveBayes::train(Vec::<(i64, &str)>::new());
        assert!(m.predict("яма", 3).is_empty());
        assert_eq!(m.vocabulary_size(), 0);
        assert!(m.labels().is_empty());
        assert_eq!(evaluate(&m, Vec::new()), (0.0, 0.0));
    }

    #[test]
    fn serde_round_trip_keeps_predictions() {
        let m = model().with_fingerprint(training_fingerprint(40, 40));
        let json = serde_json::to_string(&m).unwrap();
        let back: NaiveBayes = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        assert!(back.is_current_format());
        assert_eq!(back.fingerprint, training_fingerprint(40, 40));
        for (_, text) in unseen() {
            assert_eq!(back.predict(text, 4), m.predict(text, 4));
        }
    }

    #[test]
    fn accessors_and_fingerprint() {
        let m = model();
        assert_eq!(m.labels(), vec![HEATING, ROADS, GARBAGE, TRANSPORT]);
        assert_eq!(m.document_count(), 40);
        assert!(m.vocabulary_size() > 50);
        assert_ne!(training_fingerprint(40, 40), training_fingerprint(41, 41));
        assert_ne!(training_fingerprint(40, 41), training_fingerprint(41, 40));
    }

    #[test]
    fn document_frequency_cap_applies_to_large_corpora() {
        let options = TrainOptions { large_corpus_docs: 3, ..TrainOptions::default() };
        let m = NaiveBayes::train_with(vec![(1, "мусор контейнер"), (1, "мусор свалка"), (2, "яма")], options);
        // Only «мусор» occurs in two documents.
        assert_eq!(m.vocabulary_size(), 1);
        assert_eq!(m.predict("мусор", 1)[0].0, 1);
    }
}
