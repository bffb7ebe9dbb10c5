//! Outgoing e-mail over SMTP (`MCU_SMTP_URL`, `MCU_MAIL_FROM`): plain-text messages in UTF-8,
//! sent through a pooled connection; TLS when the URL says so (`smtps://`, `?tls=required`).

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::Settings;

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The address cannot receive mail (not worth retrying).
    #[error("not an e-mail address: {0}")]
    Address(String),
    /// The server refused or could not be reached (worth retrying later).
    #[error("the mail server did not take the message: {0}")]
    Transport(String),
}

impl MailError {
    /// Whether sending again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transport(_))
    }
}

/// A configured SMTP sender.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// The mailer of the settings, or `None` when e-mail is not configured.
    ///
    /// # Errors
    /// When the URL or the sender cannot be used (also checked when the settings are read).
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, MailError> {
        let Some((url, from)) = &settings.smtp else {
            return Ok(None);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .map_err(|_| MailError::Transport("MCU_SMTP_URL cannot be used".into()))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let from = from.parse().map_err(|_| MailError::Address(from.clone()))?;
        Ok(Some(Self { transport, from }))
    }

    /// Sends one plain-text message.
    ///
    /// # Errors
    /// [`MailError::Address`] for an address that is not one, [`MailError::Transport`] when
    /// the server does not take the message.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        let to: Mailbox = to.trim().parse().map_err(|_| MailError::Address(to.to_owned()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| MailError::Address(e.to_string()))?;
        self.transport.send(message).await.map_err(|e| MailError::Transport(e.to_string()))?;
        Ok(())
    }
}
