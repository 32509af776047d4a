"""Design-time warnings of a definition (services.design_warnings): what will fail later, told
before saving."""

from wfapp.services.design_warnings import configured_secret_names, design_warnings

SCHEMA = {"amount": {"type": "number"}, "full_name": {"type": "string"}}


def definition(deps=(), end_action=None, schema=SCHEMA):
    d = {"state_schema": schema, "workflow_dependencies": list(deps), "end_action_type": "none"}
    if end_action is not None:
        d.update(end_action_type="api_call", end_action_target=end_action)
    return d


def dep(name="kyc", endpoint="https://kyc.example.com/check", **extra):
    api = {"endpoint": endpoint, "method": "POST", **extra.pop("api", {})}
    return {"name": name, "type": "api", "when": "on_start", "api": api, **extra}


def warn(d, secrets=(), allow="", granted=None):
    return design_warnings(d, configured_secrets=set(secrets), outbound_allow=allow, granted=granted)


def test_a_clean_definition_has_no_warnings():
    body = {"name": "{{state.full_name}}", "amount": "{{state.amount}}"}
    d = definition(
        [dep(api={"headers": {"Authorization": "Bearer ${secret:KYC}"}, "body": body}, when={"fields": ["amount"]})],
        {"endpoint": "https://api.bank.com/loans", "headers": {"X-Key": "${secret:BANK}"}},
    )
    assert warn(d, secrets={"KYC", "BANK"}, granted=True) == []


def test_a_secret_that_is_not_configured_is_named_without_its_value():
    d = definition(
        [dep(api={"headers": {"Authorization": "Bearer ${secret:KYC}"}})],
        {"endpoint": "https://api.bank.com/loans", "headers": {"X-Key": "${secret:BANK}", "X-Other": "${secret:OK}"}},
    )
    out = warn(d, secrets={"OK"})
    assert [w["path"] for w in out] == ["/workflow_dependencies/0/api/headers", "/end_action_target/headers"]
    assert "secret KYC" in out[0]["message"] and "WFAPP_SECRET_KYC" in out[0]["message"]
    assert "The end action" in out[1]["message"] and "secret BANK" in out[1]["message"]


def test_configured_secret_names_come_from_the_keys_only():
    env = {"WFAPP_SECRET_KYC": "value-1", "PATH": "/bin", "WFAPP_OUTBOUND_ALLOW": ""}
    assert configured_secret_names(env, {"WFAPP_SECRET_BANK": "x", "SECRET_KEY": "y"}) == {"KYC", "BANK"}


def test_endpoints_the_outbound_policy_refuses():
    d = definition(
        [
            dep("local", "http://localhost:8080/x"),
            dep("private", "https://10.1.2.3/check"),
            dep("metadata", "http://169.254.169.254/latest"),
            dep("mapped", "http://[::ffff:127.0.0.1]/x"),
            dep("public_ip", "https://8.8.8.8/x"),
            dep("by_name", "https://internal.example.com/x"),
            dep("placeholder", "https://{{state.full_name}}.example.com/x"),
        ],
        {"endpoint": "http://127.0.0.1:9000/done"},
    )
    out = warn(d)
    assert [w["path"] for w in out] == [
        "/workflow_dependencies/0/api/endpoint",
        "/workflow_dependencies/1/api/endpoint",
        "/workflow_dependencies/2/api/endpoint",
        "/workflow_dependencies/3/api/endpoint",
        "/end_action_target/endpoint",
    ]
    assert "a loopback address" in out[0]["message"] and "WFAPP_OUTBOUND_ALLOW" in out[0]["message"]
    assert "a private address" in out[1]["message"]
    assert "link-local" in out[2]["message"]


def test_the_allowlist_admits_hosts_and_networks():
    d = definition(
        [dep("local", "http://localhost:8080/x"), dep("private", "https://10.1.2.3/check")],
        {"endpoint": "http://127.0.0.1:9000/done"},
    )
    assert warn(d, allow="localhost, 10.0.0.0/8 127.0.0.1") == []
    assert [w["path"] for w in warn(d, allow="10.0.0.0/8")] == [
        "/workflow_dependencies/0/api/endpoint",
        "/end_action_target/endpoint",
    ]


def test_fields_a_dependency_reads_that_the_schema_does_not_declare():
    d = definition(
        [
            dep(when={"fields": ["amount", "income"]}, api={"body": {"n": "{{state.nmae}}", "a": "{{state.amount}}"}}),
            dep("score", store_as="kyc_result"),
            dep(
                "uses_answer", when={"fields": ["kyc_result"]}, api={"endpoint": "https://x.example.com/{{state.zip}}"}
            ),
        ]
    )
    out = warn(d)
    assert [(w["path"], w["message"]) for w in out] == [
        (
            "/workflow_dependencies/0/when/fields",
            "Dependency kyc reads the field income, which the state schema does not declare",
        ),
        (
            "/workflow_dependencies/0/api",
            "Dependency kyc reads the field nmae, which the state schema does not declare",
        ),
        (
            "/workflow_dependencies/2/api",
            "Dependency uses_answer reads the field zip, which the state schema does not declare",
        ),
    ]


def test_a_schema_that_does_not_compile_gives_no_field_warnings():
    d = definition([dep(when={"fields": ["anything"]})], schema={"amount": {"type": "no-such-type"}})
    assert warn(d) == []


def test_a_saved_template_nobody_is_granted():
    assert warn(definition(), granted=None) == []
    assert warn(definition(), granted=True) == []
    (only,) = warn(definition(), granted=False)
    assert only["path"] == "" and "No user type is granted" in only["message"]


def test_malformed_parts_do_not_break_the_warnings():
    d = {"state_schema": "nope", "workflow_dependencies": [None, {"api": "x"}, {"when": {"fields": None}}]}
    d["end_action_type"] = "api_call"
    d["end_action_target"] = {"endpoint": "http://[bad", "headers": "x"}
    assert warn(d) == []
