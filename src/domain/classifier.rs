//! Topic suggestion for incoming appeals: a multinomial naive Bayes classifier
//! over Snowball stems and the character 4-grams of those stems, with a
//! temperature fitted on held-out appeals so that its probabilities mean what
//! they say.
//!
//! Naive Bayes is chosen because it trains in one pass over the historical
//! appeals, needs no tuning, copes with hundreds of topics and a few thousand
//! examples, and its model is a table of counts that serialises to JSON, so
//! it can be persisted and reloaded without retraining.
//!
//! Stems alone miss what citizens actually write: a typo («атопление»), a
//! form the stemmer leaves apart («ребенок» / «ребенка»), a diminutive or a
//! compound («садик», «детсад»). The 4-grams of a stem («^ото», «отоп»,
//! «топл», …) are shared by all of these, so each stem also contributes its
//! grams, at a fraction of a stem's weight. Grams of one word are not
//! independent evidence, which makes naive Bayes even more overconfident than
//! it is on stems alone; the temperature fitted on held-out data (see
//! [`NaiveBayes::calibrate`]) takes that back.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::text::tokens;

/// Version of the persisted model layout and of the feature pipeline it was
/// trained with; a stored model with another value must be retrained.
pub const MODEL_FORMAT: u32 = 2;

/// Weight of one character 4-gram relative to a whole stem.
pub const GRAM_WEIGHT: f64 = 0.25;

/// Grams are taken from stems of at least this many letters.
const GRAM_MIN_STEM: usize = 4;

/// Temperatures tried by [`NaiveBayes::calibrate`].
const TEMPERATURES: &[f64] =
    &[1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0];

/// Training knobs. The defaults suit the appeal corpus of a city district.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    /// Laplace (additive) smoothing constant; 1.0 is classic Laplace.
    pub alpha: f64,
    /// Features seen in fewer documents than this are dropped from the
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

/// The weighted features of a text: each stem (weight 1) and, for Cyrillic
/// stems of at least four letters, its character 4-grams with `^`/`$` marking
/// the word's edges (weight [`GRAM_WEIGHT`] each, keyed with a leading `#`).
pub fn features(text: &str) -> Vec<(String, f64)> {
    let stems = tokens(text);
    let mut out = Vec::with_capacity(stems.len() * 4);
    for stem in stems {
        let letters: Vec<char> = stem.chars().collect();
        if letters.len() >= GRAM_MIN_STEM && letters.iter().all(|c| matches!(c, 'а'..='я')) {
            let marked: Vec<char> = std::iter::once('^').chain(letters).chain(std::iter::once('$')).collect();
            for gram in marked.windows(4) {
                let mut key = String::with_capacity(1 + 4 * 2);
                key.push('#');
                key.extend(gram);
                out.push((key, GRAM_WEIGHT));
            }
        }
        out.push((stem, 1.0));
    }
    out
}

/// Per-label counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LabelStats {
    id: i64,
    /// Training documents with this label (for the prior).
    docs: u64,
    /// Total weight of in-vocabulary features in those documents.
    tokens: f64,
}

fn one() -> f64 {
    1.0
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
    /// Log-posteriors are divided by this before the softmax (≥ 1).
    #[serde(default = "one")]
    temperature: f64,
    total_docs: u64,
    /// Sorted by id.
    labels: Vec<LabelStats>,
    /// Feature → sparse list of (index into `labels`, weighted count).
    counts: BTreeMap<String, Vec<(u32, f64)>>,
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
        // Feature → (documents containing it, label → weight): one map, so a feature's
        // text is held once however many labels it has.
        let mut raw: HashMap<String, (u32, Vec<(i64, f64)>)> = HashMap::new();
        let mut total_docs = 0_u64;
        for (label, text) in samples {
            total_docs += 1;
            *docs_per_label.entry(label).or_default() += 1;
            let feats = features(text);
            let mut seen: HashSet<&str> = HashSet::with_capacity(feats.len());
            for (f, w) in &feats {
                let entry = raw.entry(f.clone()).or_default();
                if seen.insert(f.as_str()) {
                    entry.0 += 1;
                }
                match entry.1.iter_mut().find(|(l, _)| *l == label) {
                    Some(slot) => slot.1 += w,
                    None => entry.1.push((label, *w)),
                }
            }
        }

        let min_df = if total_docs as usize >= options.large_corpus_docs { options.min_document_frequency } else { 1 };
        let mut labels: Vec<LabelStats> =
            docs_per_label.into_iter().map(|(id, docs)| LabelStats { id, docs, tokens: 0.0 }).collect();
        let index: HashMap<i64, u32> = labels.iter().enumerate().map(|(i, l)| (l.id, i as u32)).collect();

        let mut counts = BTreeMap::new();
        for (feature, (doc_freq, per_label)) in raw {
            if doc_freq < min_df {
                continue;
            }
            let mut entries: Vec<(u32, f64)> = per_label.into_iter().map(|(label, n)| (index[&label], n)).collect();
            entries.sort_unstable_by_key(|e| e.0);
            for &(i, n) in &entries {
                labels[i as usize].tokens += n;
            }
            counts.insert(feature, entries);
        }

        Self {
            format: MODEL_FORMAT,
            fingerprint: 0,
            alpha: if options.alpha > 0.0 { options.alpha } else { 1.0 },
            temperature: 1.0,
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

    /// Sets the softmax temperature (builder style; values below 1 are taken as 1).
    #[must_use]
    pub fn with_temperature(mut self, temperature: f64) -> Self {
        self.temperature = if temperature.is_finite() { temperature.max(1.0) } else { 1.0 };
        self
    }

    /// The softmax temperature (1 for an uncalibrated model).
    pub fn temperature(&self) -> f64 {
        self.temperature
    }

    /// Number of distinct features (stems and grams) the model knows.
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

    /// Log-posterior (up to a shared constant) of every label, in label order,
    /// before the temperature. Features unknown to the model are ignored, so a
    /// text made only of unknown words yields the log-priors.
    fn log_posteriors(&self, feats: &[(String, f64)]) -> Vec<f64> {
        let vocab = self.counts.len() as f64;
        let total = self.total_docs.max(1) as f64;
        let mut scores: Vec<f64> = self.labels.iter().map(|l| (l.docs as f64 / total).ln()).collect();
        let mut known = 0.0_f64;
        for (feature, weight) in feats {
            let Some(entries) = self.counts.get(feature) else {
                continue;
            };
            known += weight;
            // w·log((c + α) / (N + αV)) = w·log((c + α)/α) + w·log(α / (N + αV)):
            // the second term is shared by every occurrence, so it is added
            // once below with the total known weight.
            for &(i, c) in entries {
                scores[i as usize] += weight * ((c + self.alpha) / self.alpha).ln();
            }
        }
        if known > 0.0 {
            for (score, label) in scores.iter_mut().zip(&self.labels) {
                let denom = label.tokens + self.alpha * vocab;
                *score += known * (self.alpha / denom).ln();
            }
        }
        scores
    }

    /// Softmax of `scores / temperature`, in label order.
    fn probabilities(scores: &[f64], temperature: f64) -> Vec<f64> {
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !max.is_finite() {
            return Vec::new();
        }
        let exp: Vec<f64> = scores.iter().map(|s| ((s - max) / temperature).exp()).collect();
        let sum: f64 = exp.iter().sum();
        exp.into_iter().map(|e| e / sum).collect()
    }

    /// The `top` most probable labels for `text` with their probabilities
    /// (they sum to 1 over all labels), sorted by probability descending
    /// (ties by label id). A text with no known features (empty, or all new
    /// words) gets the label priors. An untrained model returns an empty list.
    pub fn predict(&self, text: &str, top: usize) -> Vec<(i64, f64)> {
        let probs = Self::probabilities(&self.log_posteriors(&features(text)), self.temperature);
        let mut ranked: Vec<(i64, f64)> = self.labels.iter().zip(probs).map(|(l, p)| (l.id, p)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(top);
        ranked
    }

    /// Fits the temperature on held-out `(true label, text)` pairs: the one of
    /// [`TEMPERATURES`] with the least mean negative log-probability of the
    /// true label. Never below 1: naive Bayes is overconfident, not timid, and
    /// a held-out set of near-identical texts must not make it more so.
    /// Returns the temperature chosen (1 without usable pairs).
    pub fn calibrate<'a>(&mut self, held_out: impl IntoIterator<Item = (i64, &'a str)>) -> f64 {
        let index: HashMap<i64, usize> = self.labels.iter().enumerate().map(|(i, l)| (l.id, i)).collect();
        let mut loss = vec![0.0_f64; TEMPERATURES.len()];
        let mut n = 0_u64;
        for (label, text) in held_out {
            let Some(&truth) = index.get(&label) else { continue };
            let scores = self.log_posteriors(&features(text));
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if !max.is_finite() {
                continue;
            }
            n += 1;
            for (t, sum) in TEMPERATURES.iter().zip(loss.iter_mut()) {
                let log_norm = scores.iter().map(|s| ((s - max) / t).exp()).sum::<f64>().ln();
                *sum += log_norm - (scores[truth] - max) / t;
            }
        }
        let best = if n == 0 {
            1.0
        } else {
            TEMPERATURES.iter().zip(&loss).min_by(|a, b| a.1.total_cmp(b.1)).map_or(1.0, |(t, _)| *t)
        };
        self.temperature = best;
        best
    }
}

/// How a model did on labelled texts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Evaluation {
    /// Texts evaluated.
    pub count: u64,
    /// Share whose true label came first.
    pub top1: f64,
    /// Share whose true label was among the first three.
    pub top3: f64,
    /// Mean probability of the first label where it was right / wrong.
    pub confidence_right: f64,
    pub confidence_wrong: f64,
}

/// Top-1 and top-3 accuracy of `model` on `(true label, text)` pairs, each in
/// `0.0..=1.0`, with the mean confidence of right and wrong first answers; all
/// zero for an empty set.
pub fn evaluate<'a>(model: &NaiveBayes, held_out: impl IntoIterator<Item = (i64, &'a str)>) -> Evaluation {
    let (mut n, mut top1, mut top3) = (0_u64, 0_u64, 0_u64);
    let (mut right, mut wrong) = (0.0_f64, 0.0_f64);
    for (label, text) in held_out {
        n += 1;
        let predicted = model.predict(text, 3);
        match predicted.first() {
            Some(p) if p.0 == label => {
                top1 += 1;
                right += p.1;
            }
            Some(p) => wrong += p.1,
            None => {}
        }
        if predicted.iter().any(|p| p.0 == label) {
            top3 += 1;
        }
    }
    if n == 0 {
        return Evaluation::default();
    }
    let share = |k: u64| k as f64 / n as f64;
    let mean = |sum: f64, k: u64| if k == 0 { 0.0 } else { sum / k as f64 };
    Evaluation {
        count: n,
        top1: share(top1),
        top3: share(top3),
        confidence_right: mean(right, top1),
        confidence_wrong: mean(wrong, n - top1),
    }
}

/// A trained model and how well it did on held-out data.
#[derive(Debug)]
pub struct TrainedModel {
    pub model: NaiveBayes,
    pub fingerprint: i64,
    pub documents: i64,
    pub top1: Option<f64>,
    pub top3: Option<f64>,
    /// The held-out evaluation in full, when this process trained the model.
    pub evaluation: Option<Evaluation>,
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
        let e = evaluate(&m, unseen());
        assert_eq!(e.count, unseen().len() as u64);
        assert!((e.top1 - 1.0).abs() < 1e-12);
        assert!((e.top3 - 1.0).abs() < 1e-12);
        assert!(e.confidence_right > 0.25 && e.confidence_right <= 1.0);
        assert!(e.confidence_wrong.abs() < 1e-12);
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
        assert_eq!(evaluate(&m, Vec::new()), Evaluation::default());
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
        // Only «мусор» (and its four grams) occurs in two documents.
        assert_eq!(m.vocabulary_size(), 5);
        assert!(m.counts.contains_key("мусор") && m.counts.contains_key("#^мус"));
        assert_eq!(m.predict("мусор", 1)[0].0, 1);
    }
    #[test]
    fn a_misspelt_or_unknown_form_is_found_by_its_letters() {
        let m = model();
        // A typo and a diminutive: no stem the model saw (alone they would get the
        // priors, where the first label wins a tie), but their 4-grams are.
        for text in ["автобуз", "автобусик"] {
            assert!(tokens(text).iter().all(|t| !m.counts.contains_key(t)), "{text}");
            assert_eq!(m.predict(text, 1)[0].0, TRANSPORT, "{text}: {:?}", m.predict(text, 4));
        }
        let f = features("Автобуз");
        assert!(f.contains(&("#^авт".to_string(), GRAM_WEIGHT)) && f.contains(&("#буз$".to_string(), GRAM_WEIGHT)));
        assert!(f.contains(&("автобуз".to_string(), 1.0)));
        // Numbers and Latin words give no grams.
        assert_eq!(features("15а wifi").len(), 2);
    }

    #[test]
    fn the_temperature_is_fitted_on_held_out_texts_and_never_sharpens() {
        let mut m = model();
        let confident = m.predict("яма на дороге у остановки автобуса", 1)[0].1;
        // Held-out texts that mix topics, some labelled against the model's first answer:
        // an overconfident model must cool down.
        let noisy = vec![
            (TRANSPORT, "яма на дороге у остановки автобуса"),
            (ROADS, "автобус не пришел, дорога в ямах"),
            (GARBAGE, "мусор на дороге и ямы"),
            (HEATING, "холодно на остановке автобуса"),
            (ROADS, "яма на дороге"),
            (TRANSPORT, "автобус опаздывает"),
        ];
        let t = m.calibrate(noisy);
        assert!(t > 1.0, "{t}");
        assert!((m.temperature() - t).abs() < 1e-12);
        let cooled = m.predict("яма на дороге у остановки автобуса", 1)[0].1;
        assert!(cooled < confident, "{cooled} < {confident}");
        // Ranking is unchanged by the temperature.
        assert!((evaluate(&m, unseen()).top1 - evaluate(&model(), unseen()).top1).abs() < 1e-12);
        // Held-out texts the model gets right with room to spare never make it sharper.
        let mut sure = model();
        assert!((sure.calibrate(unseen()) - 1.0).abs() < 1e-12);
        assert!((model().with_temperature(0.2).temperature() - 1.0).abs() < 1e-12);
        // The temperature survives persistence; a stored model without one reads as 1.
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<NaiveBayes>(&json).unwrap(), m);
        let old = json.replace(&format!("\"temperature\":{t},"), "");
        assert!(!old.contains("temperature"), "{old}");
        assert!((serde_json::from_str::<NaiveBayes>(&old).unwrap().temperature() - 1.0).abs() < 1e-12);
    }
}
