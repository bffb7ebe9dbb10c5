//! Topic suggestion: a multinomial naive Bayes model over Snowball stems, trained on the
//! database's own categorised appeals, persisted with a fingerprint of its training data
//! and retrained only when that data changed.
//!
//! Why naive Bayes: it trains in one pass over a million short texts in seconds, needs no
//! tuning, degrades gracefully on small data, and its posteriors (normalised over the
//! categories) give a usable confidence; topics of complaints are well separated by
//! vocabulary, where heavier models gain little.

use std::sync::Arc;

use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use crate::domain::classifier::{Evaluation, NaiveBayes, TrainedModel, evaluate, training_fingerprint};
use crate::entity::{appeal, classifier_model};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// At most this many of the newest categorised appeals are used for training.
pub const MAX_TRAINING_ROWS: u64 = 300_000;

async fn current_fingerprint(conn: &impl ConnectionTrait) -> AppResult<i64> {
    let q = appeal::Entity::find()
        .filter(appeal::Column::CategoryId.is_not_null())
        .filter(appeal::Column::DuplicateOfId.is_null());
    let count = q.clone().count(conn).await?;
    let max_id: Option<i64> =
        q.select_only().expr(Func::max(Expr::col(appeal::Column::Id))).into_tuple().one(conn).await?.flatten();
    Ok(training_fingerprint(count, max_id.unwrap_or(0)) as i64)
}

/// The training texts, streamed from the database into one compact list: collecting the
/// result rows first held every row twice (a first start on 200,000 appeals peaked at 157 MB).
async fn training_rows(db: &sea_orm::DatabaseConnection) -> AppResult<Vec<(i64, String)>> {
    use futures_util::TryStreamExt;
    let mut stream = appeal::Entity::find()
        .select_only()
        .columns([appeal::Column::CategoryId, appeal::Column::Text])
        .filter(appeal::Column::CategoryId.is_not_null())
        .filter(appeal::Column::DuplicateOfId.is_null())
        .order_by_desc(appeal::Column::Id)
        .limit(MAX_TRAINING_ROWS)
        .into_tuple::<(Option<i64>, String)>()
        .stream(db)
        .await?;
    let mut rows = Vec::new();
    while let Some((category, text)) = stream.try_next().await? {
        if let Some(c) = category {
            rows.push((c, text));
        }
    }
    rows.shrink_to_fit();
    Ok(rows)
}

/// Trains on the database as it is now: evaluates on every fifth row held out, then trains
/// on all rows, and stores the model.
pub async fn train(state: &AppState) -> AppResult<Arc<TrainedModel>> {
    let fingerprint = current_fingerprint(&state.db).await?;
    let rows = training_rows(&state.db).await?;
    let trained = tokio::task::spawn_blocking(move || {
        let (held_out, training): (Vec<_>, Vec<_>) = rows.iter().enumerate().partition(|(i, _)| i % 5 == 0);
        let (evaluation, temperature) = if held_out.len() >= 20 {
            let mut probe = NaiveBayes::train(training.iter().map(|(_, (c, t))| (*c, t.as_str())));
            let temperature = probe.calibrate(held_out.iter().map(|(_, (c, t))| (*c, t.as_str())));
            (Some(evaluate(&probe, held_out.iter().map(|(_, (c, t))| (*c, t.as_str())))), temperature)
        } else {
            (None, 1.0)
        };
        let model = NaiveBayes::train(rows.iter().map(|(c, t)| (*c, t.as_str())))
            .with_temperature(temperature)
            .with_fingerprint(fingerprint as u64);
        TrainedModel {
            model,
            fingerprint,
            documents: rows.len() as i64,
            top1: evaluation.map(|e| e.top1),
            top3: evaluation.map(|e| e.top3),
            evaluation,
        }
    })
    .await
    .map_err(AppError::internal)?;
    let json = serde_json::to_string(&trained.model).map_err(AppError::internal)?;
    let txn = crate::db::begin_write(&state.writer).await?;
    classifier_model::Entity::delete_many().exec(&txn).await?;
    classifier_model::ActiveModel {
        fingerprint: Set(trained.fingerprint),
        documents: Set(trained.documents as i32),
        top1: Set(trained.top1),
        top3: Set(trained.top3),
        model: Set(json),
        created_at: Set(state.clock.now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    let trained = Arc::new(trained);
    *state.classifier.write().await = Some(Arc::clone(&trained));
    Ok(trained)
}

/// The model for the current data: from memory, else from the database when its
/// fingerprint still matches, else freshly trained.
pub async fn current(state: &AppState) -> AppResult<Arc<TrainedModel>> {
    let fingerprint = current_fingerprint(&state.db).await?;
    if let Some(m) = state.classifier.read().await.as_ref().filter(|m| m.fingerprint == fingerprint) {
        return Ok(Arc::clone(m));
    }
    if let Some(stored) = classifier_model::Entity::find()
        .filter(classifier_model::Column::Fingerprint.eq(fingerprint))
        .one(&state.db)
        .await?
        && let Ok(model) = serde_json::from_str::<NaiveBayes>(&stored.model)
        && model.is_current_format()
    {
        let m = Arc::new(TrainedModel {
            model,
            fingerprint,
            documents: i64::from(stored.documents),
            top1: stored.top1,
            top3: stored.top3,
            evaluation: None,
        });
        *state.classifier.write().await = Some(Arc::clone(&m));
        return Ok(m);
    }
    train(state).await
}

/// The model in memory, whatever its age (for suggestions on arrival, which must not wait
/// for a retraining).
pub async fn cached(state: &AppState) -> Option<Arc<TrainedModel>> {
    state.classifier.read().await.clone()
}

/// The most likely categories of a text with their probabilities.
pub async fn suggest(state: &AppState, text: &str, top: usize) -> AppResult<Vec<(i64, f64)>> {
    let model = current(state).await?;
    Ok(model.model.predict(text, top))
}

/// One labelled text of an evaluation file, its category named as in the rubricator.
#[derive(Debug, serde::Deserialize)]
pub struct LabelledText {
    pub category: String,
    pub text: String,
}

/// How `model` does on labelled texts whose categories are named (case, `ё` and spacing do
/// not matter); returns the evaluation and, for each text it got wrong, the text, the
/// expected and the suggested category names with the suggestion's probability.
///
/// # Errors
/// `BAD_USER_INPUT` at `texts[i].category` for a category the rubricator does not have.
pub async fn evaluate_texts(
    state: &AppState,
    model: &NaiveBayes,
    texts: &[LabelledText],
) -> AppResult<(Evaluation, Vec<(String, String, String, f64)>)> {
    use crate::entity::category;
    let all = category::Entity::find().all(&state.db).await?;
    let key = |s: &str| crate::domain::text::normalize_name(s);
    let by_name: std::collections::HashMap<String, i64> = all.iter().map(|c| (key(&c.name), c.id)).collect();
    let names: std::collections::HashMap<i64, String> = all.iter().map(|c| (c.id, c.name.clone())).collect();
    let mut pairs = Vec::with_capacity(texts.len());
    for (i, t) in texts.iter().enumerate() {
        let id = by_name.get(&key(&t.category)).copied().ok_or_else(|| {
            AppError::bad(format!("texts[{i}].category"), format!("unknown category «{}»", t.category))
        })?;
        pairs.push((id, t.text.as_str()));
    }
    let mut misses = Vec::new();
    for (id, text) in &pairs {
        if let Some((got, p)) = model.predict(text, 1).first().copied()
            && got != *id
        {
            let name = |c: i64| names.get(&c).cloned().unwrap_or_default();
            misses.push(((*text).to_string(), name(*id), name(got), p));
        }
    }
    Ok((evaluate(model, pairs), misses))
}
