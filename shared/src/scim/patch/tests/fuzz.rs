//! Arbitrary operations: never a panic, and a refusal changes nothing.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails loudly on what it did not expect"
)]

use super::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_operations_never_panic(
        op in prop_oneof![Just("add"), Just("replace"), Just("remove"), Just("x")],
        path in prop_oneof![
            Just(Value::Null),
            Just(json!("emails[type eq \"work\"].value")),
            Just(json!("members[value eq \"u1\"]")),
            Just(json!("name")),
            Just(json!("members")),
            Just(json!(ENTERPRISE_USER)),
            ".{0,30}".prop_map(Value::String),
        ],
        value in prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            ".{0,10}".prop_map(Value::String),
            Just(json!([{"value": "u3"}, {"value": 1}, null, "x"])),
            Just(json!({"value": "x", "type": [], "givenName": {"a": 1}})),
            Just(json!({"name.givenName": "g", ENTERPRISE_USER: 1, "id": "id1"})),
        ],
    ) {
        for (kind, resource) in [(USER_KIND, user()), (GROUP_KIND, group())] {
            let mut copy = resource.clone();
            let operation = json!([{"op": op, "path": path.clone(), "value": value.clone()}]);
            if apply(kind, "id1", &mut copy, &body(operation)).is_err() {
                prop_assert_eq!(&copy, &resource);
            }
        }
    }
}
