//! The subject's rights (152-ФЗ ст. 14, 21): `personalDataSubject` finds everything about one
//! person by contact or name, `erasePersonalData` erases it on request (CURATOR of the whole
//! municipality; see `service::privacy`).

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::{caller, state};
use crate::error::AppResult;
use crate::service::privacy::{self, SubjectQuery};

/// One appeal of the person, as stored (unmasked; the read is audited).
#[derive(SimpleObject)]
pub struct SubjectAppeal {
    pub id: ID,
    pub number: String,
    /// `AppealStatus` name.
    pub status: String,
    /// `Channel` name.
    pub channel: String,
    pub received_at: DateTime<Utc>,
    pub author_name: Option<String>,
    pub author_contact: Option<String>,
    pub text: String,
    pub summary: Option<String>,
    pub address: Option<String>,
    /// Texts of every answer given, in order.
    pub answers: Vec<String>,
}

/// Everything the project holds about one person.
#[derive(SimpleObject)]
pub struct PersonalDataSubject {
    /// How many appeals are theirs.
    pub appeal_count: i32,
    /// Their appeals, oldest first.
    pub appeals: Vec<SubjectAppeal>,
    /// Poll ballots linked to the contact: always 0 (a ballot keeps only a hash of its
    /// one-time key or invitation code, never a contact).
    pub poll_ballots: i32,
    /// Staff accounts whose e-mail is the contact (an administrator handles those).
    pub staff_accounts: i32,
    /// The same as a JSON file (`GET`, with the caller's bearer token). The URL holds the
    /// contact: rather `POST` to `/exports/subject.json` with `{"contact", "name"}` as JSON
    /// or a form, which keeps it out of proxy and access logs.
    pub json_url: String,
    /// The same as a Word document.
    pub docx_url: String,
}

/// Whose personal data to erase, and why.
#[derive(InputObject)]
pub struct ErasePersonalDataInput {
    /// An e-mail address or a phone number, compared normalised (case, digits only).
    pub contact: Option<String>,
    /// The name, compared by its words in any order, case and `ё`/`е` ignored.
    pub name: Option<String>,
    /// Why (the subject's request, its date and number): required, kept in the audit entry.
    pub reason: String,
}

/// What an erasure did.
#[derive(SimpleObject)]
pub struct PersonalDataErasure {
    /// How many appeals were anonymised.
    pub appeals_anonymised: i32,
    /// Their numbers.
    pub numbers: Vec<String>,
}

/// The export path with the query in its query string.
fn export_url(ext: &str, q: &SubjectQuery) -> String {
    let mut params = Vec::new();
    if let Some(c) = q.contact.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        params.push(("contact", c));
    }
    if let Some(n) = q.name.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        params.push(("name", n));
    }
    let path = format!("/exports/subject.{ext}");
    match reqwest::Url::parse_with_params(&format!("http://localhost{path}"), &params) {
        Ok(u) => match u.query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        },
        Err(_) => path,
    }
}

#[derive(Default)]
pub struct PrivacyQuery;

#[Object]
impl PrivacyQuery {
    /// Everything about one person, by contact, name or both (then an appeal must hold both):
    /// a subject's request under 152-ФЗ ст. 14. CURATOR not limited to a territory; audited
    /// as a read of personal data.
    async fn personal_data_subject(
        &self,
        ctx: &Context<'_>,
        contact: Option<String>,
        name: Option<String>,
    ) -> AppResult<PersonalDataSubject> {
        let q = SubjectQuery { contact, name };
        let s = privacy::find(state(ctx), caller(ctx), &q, "personalDataSubject").await?;
        let appeals = s
            .appeals
            .iter()
            .map(|a| SubjectAppeal {
                id: ID(a.id.to_string()),
                number: a.number.clone(),
                status: a.status.clone(),
                channel: a.channel.clone(),
                received_at: a.received_at,
                author_name: a.author_name.clone(),
                author_contact: a.author_contact.clone(),
                text: a.text.clone(),
                summary: a.summary.clone(),
                address: a.address.clone(),
                answers: s.answers.iter().filter(|r| r.appeal_id == a.id).filter_map(|r| r.text.clone()).collect(),
            })
            .collect::<Vec<_>>();
        Ok(PersonalDataSubject {
            appeal_count: i32::try_from(appeals.len()).unwrap_or(i32::MAX),
            appeals,
            poll_ballots: i32::try_from(s.poll_ballots).unwrap_or(i32::MAX),
            staff_accounts: i32::try_from(s.staff_accounts).unwrap_or(i32::MAX),
            json_url: export_url("json", &q),
            docx_url: export_url("docx", &q),
        })
    }
}

#[derive(Default)]
pub struct PrivacyMutation;

#[Object]
impl PrivacyMutation {
    /// Erases one person's personal data on request (152-ФЗ ст. 21): each of their appeals is
    /// anonymised as by the retention run. Refused with `CONFLICT` (nothing changes) while any
    /// of them is not CLOSED. CURATOR not limited to a territory; the audit entry names who,
    /// when and the reason.
    async fn erase_personal_data(
        &self,
        ctx: &Context<'_>,
        input: ErasePersonalDataInput,
    ) -> AppResult<PersonalDataErasure> {
        let q = SubjectQuery { contact: input.contact, name: input.name };
        let e = privacy::erase(state(ctx), caller(ctx), &q, &input.reason).await?;
        Ok(PersonalDataErasure {
            appeals_anonymised: i32::try_from(e.numbers.len()).unwrap_or(i32::MAX),
            numbers: e.numbers,
        })
    }
}
