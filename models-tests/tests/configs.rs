//! Scenarios set every actor's configuration, so each deserialises with its
//! safe defaults, refuses unknown keys, and checks keys as it reads them.

use possim_models::issuer::IssuerConfig;
use possim_models::network::NetworkConfig;
use possim_models::switch::SwitchConfig;
use possim_models::terminal::config::{
    JournalClear, OfflineUpload, ReversalExhausted, ReversalPersist, UploadEndCode,
};
use possim_models::terminal::TerminalConfig;
use serde_json::json;

#[test]
fn a_terminal_config_takes_defaults_and_the_safe_policies() {
    let config: TerminalConfig = serde_json::from_value(json!({
        "terminal_id": "T0000001", "merchant_id": "898100000000001", "tmk": "0123456789ABCDEF"
    }))
    .unwrap();
    assert_eq!(config.reversal_persist, ReversalPersist::BeforeSend);
    assert_eq!(config.reversal_exhausted, ReversalExhausted::KeepBlocking);
    assert_eq!(config.offline_upload, OfflineUpload::WithNextOnline);
    assert_eq!(config.upload_end_code_when_unbalanced, UploadEndCode::Code202);
    assert_eq!(config.journal_clear, JournalClear::AfterSettlementAnswer);
    assert!(!config.cashier_retry_after_failure);
    assert_eq!(config.reversal_tries_max, 3);
}

#[test]
fn a_terminal_config_sets_every_unsafe_policy_by_name() {
    let config: TerminalConfig = serde_json::from_value(json!({
        "reversal_persist": "after_send",
        "reversal_exhausted": "delete",
        "offline_upload": "before_settlement_only",
        "upload_end_code_when_unbalanced": "code207",
        "journal_clear": "when_settlement_sent",
        "cashier_retry_after_failure": true
    }))
    .unwrap();
    assert_eq!(config.reversal_persist, ReversalPersist::AfterSend);
    assert_eq!(config.reversal_exhausted, ReversalExhausted::Delete);
    assert_eq!(config.offline_upload, OfflineUpload::BeforeSettlementOnly);
    assert_eq!(config.upload_end_code_when_unbalanced, UploadEndCode::Code207);
    assert_eq!(config.journal_clear, JournalClear::WhenSettlementSent);
    assert!(config.cashier_retry_after_failure);
}

#[test]
fn unknown_keys_are_refused_by_every_config() {
    let error =
        serde_json::from_value::<TerminalConfig>(json!({ "reversal_tries": 3 })).unwrap_err();
    assert!(error.to_string().contains("unknown field `reversal_tries`"), "{error}");
    let switch = json!({
        "network_keys": { "pik": "1111111111111111", "mak": "2222222222222222" },
        "key_generation_key": "3333333333333333",
        "duplicate_chek": false
    });
    assert!(serde_json::from_value::<SwitchConfig>(switch)
        .unwrap_err()
        .to_string()
        .contains("duplicate_chek"));
    let issuer = json!({ "index": 0, "link": { "pik": "1111111111111111", "mak": "2222222222222222" }, "polcy": {} });
    assert!(serde_json::from_value::<IssuerConfig>(issuer).is_err());
    let network = json!({
        "switch_link": { "pik": "1111111111111111", "mak": "2222222222222222" },
        "issuers": [], "routes": [], "issuer_timout_ms": 1
    });
    assert!(serde_json::from_value::<NetworkConfig>(network).is_err());
}

#[test]
fn switch_issuer_and_network_configs_read_with_their_safe_defaults() {
    let switch: SwitchConfig = serde_json::from_value(json!({
        "terminals": [{ "terminal_id": "T0000001", "merchant_id": "898100000000001", "tmk": "0123456789ABCDEF" }],
        "network_keys": { "pik": "1111111111111111", "mak": "2222222222222222" },
        "key_generation_key": "3333333333333333"
    }))
    .unwrap();
    assert!(switch.duplicate_check);
    assert_eq!(switch.upstream_timeout_ms, 40_000);
    let issuer: IssuerConfig = serde_json::from_value(json!({
        "index": 0,
        "link": { "pik": "1111111111111111", "mak": "2222222222222222" },
        "cards": [{ "pan": "6222021234567890123", "balance_fen": 100000, "pin": "123456" }]
    }))
    .unwrap();
    assert!(issuer.policy.reversal_idempotent);
    assert_eq!(issuer.limits.pin_tries_max, 3);
    let network: NetworkConfig = serde_json::from_value(json!({
        "switch_link": { "pik": "1111111111111111", "mak": "2222222222222222" },
        "issuers": [{ "index": 0, "link": { "pik": "4444444444444444", "mak": "5555555555555555" } }],
        "routes": [{ "bin_prefix": "622202", "issuer": 0 }]
    }))
    .unwrap();
    assert_eq!(network.issuer_timeout_ms, 30_000);
}

#[test]
fn a_bad_key_is_refused_as_it_is_read() {
    let error = serde_json::from_value::<SwitchConfig>(json!({
        "network_keys": { "pik": "11111111111111", "mak": "2222222222222222" },
        "key_generation_key": "3333333333333333"
    }))
    .unwrap_err();
    assert!(error.to_string().contains("bad key"), "{error}");
    let error = serde_json::from_value::<IssuerConfig>(json!({
        "index": 0, "link": { "pik": "zz", "mak": "2222222222222222" }
    }))
    .unwrap_err();
    assert!(error.to_string().contains("bad key"), "{error}");
}
