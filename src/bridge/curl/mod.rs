//! curl both ways: a collection's request as a curl command, and a curl
//! command (as docs print them) as a request entry.

mod export;
mod import;

pub use export::export;
pub use import::{import, placeholders, templatize, to_yaml, Imported};

#[cfg(test)]
mod tests {
    use super::export::quote;
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn imports_the_cells_token_request_of_the_docs() {
        let imported = import(
            &args(&[
                "-X", "POST", "<URL>/auth/dex/token", "-u", "<API_KEY>:<APISECRET>", "-H", "Cache-Control: no-cache",
                "-H", "Content-Type: application/x-www-form-urlencoded",
                "-d", "grant_type=password&username=<USER>&password=<PASSWORD>&scope=email%20profile%20pydio&nonce=<NONCE>",
            ]),
            None,
        )
        .unwrap();
        let e = &imported.entry;
        assert_eq!(e["method"], "POST");
        assert_eq!(e["url"], "{{ URL }}/auth/dex/token");
        assert_eq!(
            e["headers"]["Authorization"],
            "{{ basic_auth(API_KEY, APISECRET) }}"
        );
        assert_eq!(e["form"]["scope"], "email profile pydio");
        assert_eq!(e["form"]["username"], "{{ USER }}");
        assert!(e["headers"].get("Content-Type").is_none());
    }

    #[test]
    fn query_string_parameters_and_json_bodies() {
        let imported = import(
            &args(&[
                "-XPUT",
                "`${HOST}`/api/v1/x?a=1&b=<login>",
                "--data",
                r#"{"k": "$VALUE"}"#,
                "-H",
                "Content-Type: application/json",
            ]),
            None,
        )
        .unwrap();
        let e = &imported.entry;
        assert_eq!(e["method"], "PUT");
        assert_eq!(e["url"], "{{ HOST }}/api/v1/x");
        assert_eq!(e["query"]["b"], "{{ login }}");
        assert_eq!(e["json"]["k"], "{{ VALUE }}");
    }

    #[test]
    fn shell_quoting_round_trips() {
        assert_eq!(quote("abc"), "abc");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(
            quote("Authorization: Bearer ${t}"),
            "\"Authorization: Bearer ${t}\""
        );
    }
}
