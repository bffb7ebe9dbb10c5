//! Russian labels of what analytics count: channels, kinds, statuses, missing values and the
//! dimensions growth is driven by. The memo, the breakdowns and the exports show these.

use crate::domain::access::Channel;
use crate::domain::deadlines::AppealKind;
use crate::domain::lifecycle::AppealStatus;

/// Label of appeals without a category.
pub const NO_CATEGORY: &str = "Без категории";
/// Label of appeals without a territory.
pub const NO_TERRITORY: &str = "Без территории";
/// Label of appeals whose recipient is unknown.
pub const NO_RECIPIENT: &str = "Без получателя";
/// Who is responsible for an appeal that has no recipient yet.
pub const UNASSIGNED: &str = "Исполнитель не назначен";
/// Label of the one series of an ungrouped trend.
pub const ALL_APPEALS: &str = "Все обращения";

/// Russian label of a channel.
pub fn channel_label(c: Channel) -> &'static str {
    match c {
        Channel::Pos => "ПОС",
        Channel::Incident => "Инцидент менеджмент",
        Channel::Gospabliki => "Госпаблики",
        Channel::Email => "Электронная почта",
        Channel::Post => "Почта",
        Channel::Personal => "Личный приём",
        Channel::Phone => "Телефон",
        Channel::Website => "Сайт",
        Channel::Other => "Другое",
    }
}

/// Russian label of a kind.
pub fn kind_label(k: AppealKind) -> &'static str {
    match k {
        AppealKind::Appeal => "Обращение (59-ФЗ)",
        AppealKind::Message => "Сообщение",
        AppealKind::Incident => "Инцидент",
    }
}

/// Russian label of a status.
pub fn status_label(s: AppealStatus) -> &'static str {
    match s {
        AppealStatus::Received => "Поступило",
        AppealStatus::Registered => "Зарегистрировано",
        AppealStatus::Assigned => "Передано исполнителю",
        AppealStatus::InProgress => "В работе",
        AppealStatus::Answered => "Дан ответ",
        AppealStatus::Closed => "Закрыто",
        AppealStatus::Redirected => "Переадресовано",
        AppealStatus::WithoutAnswer => "Оставлено без ответа",
        AppealStatus::Reopened => "Повторное рассмотрение",
        AppealStatus::Duplicate => "Дубликат",
    }
}

/// Label of a channel as stored (`POS`); the stored name itself when it is not a channel.
pub fn stored_channel_label(stored: &str) -> String {
    stored.parse::<Channel>().map_or_else(|_| stored.to_string(), |c| channel_label(c).to_string())
}

/// What a growth driver is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Category,
    Territory,
    Channel,
}

/// Label of a growth driver: «Тема: Отопление», «Территория: …», «Канал: ПОС».
pub fn driver_label(driver: Driver, name: &str) -> String {
    let what = match driver {
        Driver::Category => "Тема",
        Driver::Territory => "Территория",
        Driver::Channel => "Канал",
    };
    format!("{what}: {name}")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_value_has_its_own_label() {
        let channels: HashSet<&str> = Channel::ALL.iter().map(|c| channel_label(*c)).collect();
        assert_eq!(channels.len(), Channel::ALL.len());
        let kinds: HashSet<&str> = AppealKind::ALL.iter().map(|k| kind_label(*k)).collect();
        assert_eq!(kinds.len(), AppealKind::ALL.len());
        let statuses: HashSet<&str> = AppealStatus::ALL.iter().map(|s| status_label(*s)).collect();
        assert_eq!(statuses.len(), AppealStatus::ALL.len());
    }

    #[test]
    fn stored_channels_and_drivers() {
        assert_eq!(stored_channel_label("POS"), "ПОС");
        assert_eq!(stored_channel_label("FAX"), "FAX", "an unknown stored name is shown as it is");
        assert_eq!(driver_label(Driver::Category, "Отопление"), "Тема: Отопление");
        assert_eq!(driver_label(Driver::Territory, "Северный"), "Территория: Северный");
        assert_eq!(driver_label(Driver::Channel, &stored_channel_label("INCIDENT")), "Канал: Инцидент менеджмент");
    }
}
