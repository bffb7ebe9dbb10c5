//! The password policy (NIST SP 800-63B, 5.1.1.2): long enough, no control characters, not
//! only spaces, not built from the account's own e-mail or name or the service's name, and
//! not guessable from the lists of common passwords, words and names and the patterns
//! (sequences, repeats, keyboard walks, dates, l33t) that `zxcvbn` knows.

/// The shortest password accepted.
pub const MIN_LEN: usize = 12;
/// The longest password accepted (NIST asks for at least 64).
pub const MAX_LEN: usize = 128;
/// The least number of guesses a password must be estimated to need (zxcvbn's score 3).
pub const MIN_GUESSES_LOG10: f64 = 8.0;
/// The service's names, which no password may contain.
const SERVICE_WORDS: &[&str] = &["mcu"];
/// Words of the service a password should not be built from (given to zxcvbn).
const SERVICE_HINTS: &[&str] = &["mcu", "municipal", "control", "centre", "center", "admin", "administrator"];

/// Whose password it is: what it must not be built from.
pub struct Owner<'a> {
    pub email: &'a str,
    pub full_name: &'a str,
}

/// Why a password is refused, as the message of a field error, or `None` when it is accepted.
pub fn refusal(password: &str, owner: &Owner<'_>) -> Option<String> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Some(format!("must be at least {MIN_LEN} characters"));
    }
    if len > MAX_LEN {
        return Some(format!("must be at most {MAX_LEN} characters"));
    }
    if password.chars().any(char::is_control) {
        return Some("must not contain control characters".into());
    }
    if password.chars().all(char::is_whitespace) {
        return Some("must not be only spaces".into());
    }
    let lower = password.to_lowercase();
    let email = owner.email.trim().to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    let name_words: Vec<String> = owner
        .full_name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .collect();
    let own = [email.as_str(), local].into_iter().filter(|w| w.chars().count() >= 3).any(|w| lower.contains(w))
        || name_words.iter().any(|w| lower.contains(w.as_str()));
    if own {
        return Some("must not contain your e-mail address or name".into());
    }
    if SERVICE_WORDS.iter().any(|w| lower.contains(w)) {
        return Some("must not contain the service's name".into());
    }
    let mut hints: Vec<&str> = vec![email.as_str(), local];
    hints.extend(name_words.iter().map(String::as_str));
    hints.extend(SERVICE_HINTS);
    if zxcvbn::zxcvbn(password, &hints).guesses_log10() < MIN_GUESSES_LOG10 {
        return Some(
            "is too easy to guess (a common password, words or a pattern); use a longer phrase of unrelated words"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{Owner, refusal};

    const OWNER: Owner<'static> = Owner { email: "ivan.petrov@city.ru", full_name: "Иван Петров" };

    fn refused(p: &str) -> String {
        refusal(p, &OWNER).unwrap_or_else(|| panic!("{p:?} should be refused"))
    }

    #[test]
    fn long_unpredictable_passwords_are_accepted() {
        for p in [
            "correct horse battery staple",
            "Tundra-Violin-Marmalade-41",
            "кот учёный ходит по цепи кругом",
            "qL8#vT2!mZ9@wR4$",
            "e3b0c44298fc1c149afbf4c8",
            "correct horse battery",
        ] {
            assert_eq!(refusal(p, &OWNER), None, "{p}");
        }
    }

    #[test]
    fn short_long_control_and_blank_passwords_are_refused() {
        assert_eq!(refused("short-pass1"), "must be at least 12 characters");
        assert_eq!(refused(&"a".repeat(129)), "must be at most 128 characters");
        assert_eq!(refused(&"\0".repeat(12)), "must not contain control characters");
        assert_eq!(refused("tundra\tviolin-marmalade"), "must not contain control characters");
        assert_eq!(refused(&" ".repeat(12)), "must not be only spaces");
        assert_eq!(refused(&"\u{3000}".repeat(12)), "must not be only spaces");
    }

    #[test]
    fn common_and_predictable_passwords_are_refused() {
        for p in [
            "123456789012",
            "password1234",
            "Password1234",
            "qwertyuiop[]",
            "aaaaaaaaaaaa",
            "iloveyou2024!",
            "p@ssw0rd12345",
            "abcdefghijkl",
            "1q2w3e4r5t6y",
            "letmeinletmein",
        ] {
            assert!(refused(p).starts_with("is too easy to guess"), "{p}: {}", refused(p));
        }
    }

    #[test]
    fn passwords_built_from_the_account_or_the_service_are_refused() {
        for p in ["ivan.petrov@city.ru", "IVAN.PETROV-2024-x", "мой пароль петров!"] {
            assert_eq!(refused(p), "must not contain your e-mail address or name", "{p}");
        }
        assert_eq!(refused("my-mcu-account-key"), "must not contain the service's name");
        assert!(refused("administrator1").starts_with("is too easy to guess"));
    }
}
