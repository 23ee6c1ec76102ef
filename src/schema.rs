//! `gantry schema`: a JSON Schema (draft-07) of the YAML gantry accepts, generated from the
//! same keyword tables the decoder enforces, so the schema and the checker cannot drift.

use crate::model::keywords::{self, Keyword, Shape};
use serde_json::{Map, Value, json};

/// The schema as pretty-printed JSON.
pub fn generate() -> String {
    serde_json::to_string_pretty(&schema()).unwrap_or_default()
}

/// The schema as a JSON value.
pub fn schema() -> Value {
    let mut job_props: Map<String, Value> = keywords::JOB
        .iter()
        .map(|k| (k.name.to_string(), described(k)))
        .collect();
    let job_input_keys = keywords::JOB_INPUT;
    let mut job_input = closed(props(job_input_keys, |k| match k {
        "type" => enumeration(keywords::INPUT_TYPES),
        "description" => json!({"type": "string", "maxLength": keywords::MAX_INPUT_DESCRIPTION}),
        "options" => json!({"type": "array"}),
        "regex" => json!({"type": "string"}),
        _ => json!({}),
    }));
    job_input["required"] = json!(["default"]);
    job_props.insert(
        "inputs".into(),
        json!({"type": "object", "additionalProperties": job_input, "description": "Inputs for step-based jobs."}),
    );
    for key in ["stage", "type"] {
        job_props.insert(key.into(), non_empty());
    }
    job_props.insert(
        "dast_configuration".into(),
        closed(props(
            keywords::DAST_CONFIGURATION,
            |_| json!({"type": "string"}),
        )),
    );
    for v in job_props.values_mut() {
        *v = nullable(v.take());
    }
    // `script` (unlike `before_script`/`after_script`) may not be empty.
    job_props.insert(
        "script".into(),
        json!({"$ref": "#/definitions/script", "description": "Commands the job runs."}),
    );
    let default_props: Map<String, Value> = keywords::DEFAULT
        .iter()
        .map(|name| {
            let k = keywords::JOB.iter().find(|k| k.name == *name);
            (
                name.to_string(),
                k.map_or(json!({}), |k| nullable(described(k))),
            )
        })
        .collect();
    let mut top = Map::default();
    top.insert("default".into(), nullable(closed(default_props)));
    top.insert("include".into(), json!({"$ref": "#/definitions/include"}));
    top.insert(
        "$schema".into(),
        json!({"type": "string", "description": "URL of a JSON schema for editors; ignored."}),
    );
    top.insert("stages".into(), json!({"$ref": "#/definitions/stages"}));
    top.insert(
        "variables".into(),
        nullable(json!({"$ref": "#/definitions/variables"})),
    );
    top.insert(
        "workflow".into(),
        closed(props(keywords::WORKFLOW, |k| match k {
            "rules" => json!({"type": "array", "items": {"anyOf": [
                {"$ref": "#/definitions/workflow_rule"},
                {"type": "array", "items": {"$ref": "#/definitions/workflow_rule"}}
            ]}}),
            "name" => json!({"type": "string", "minLength": 1, "maxLength": 255}),
            _ => auto_cancel(),
        })),
    );
    top.insert(
        "spec".into(),
        closed(props(&["inputs"], |_| {
            json!({"type": "object", "additionalProperties": {"oneOf": [{"type": "null"}, closed(props(keywords::INPUT_SPEC, |k| match k {
                "type" => enumeration(keywords::INPUT_TYPES),
                "description" => json!({"type": "string", "maxLength": keywords::MAX_INPUT_DESCRIPTION}),
                "options" | "rules" => json!({"type": "array"}),
                "regex" => json!({"type": "string"}),
                _ => json!({}),
            }))]}})
        })),
    );
    for key in keywords::GLOBAL_DEFAULTS {
        if let Some(k) = keywords::JOB.iter().find(|k| k.name == *key) {
            top.insert(key.to_string(), nullable(described(k)));
        }
    }
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://gantry.invalid/schemas/gantry.schema.json",
        "title": "gantry pipeline (GitLab CI YAML)",
        "type": "object",
        "properties": top,
        "patternProperties": {"^\\.": {"description": "Hidden job or template; not run."}},
        "additionalProperties": {"$ref": "#/definitions/job"},
        "definitions": definitions(job_props),
    })
}

/// An item of a list GitLab flattens: the item itself or a list of such items, at any depth.
fn nested(item: &str) -> Value {
    json!({"$ref": format!("#/definitions/nested_{item}")})
}

/// `null` or `v`: GitLab reads a keyword set to `null` as not set (`Entry::Unspecified`).
fn nullable(v: Value) -> Value {
    json!({"anyOf": [{"type": "null"}, v]})
}

fn described(k: &Keyword) -> Value {
    let mut v = shape(k.shape);
    if let Value::Object(m) = &mut v {
        m.insert("description".into(), json!(k.doc));
    }
    v
}

fn closed(properties: Map<String, Value>) -> Value {
    json!({"type": "object", "properties": properties, "additionalProperties": false})
}

fn props(keys: &[&str], f: impl Fn(&str) -> Value) -> Map<String, Value> {
    keys.iter().map(|k| (k.to_string(), f(k))).collect()
}

fn enumeration(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

fn string_or_list() -> Value {
    json!({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})
}

fn rule(keys: &[&str], whens: &[&str]) -> Value {
    closed(props(keys, |k| match k {
        "if" => json!({"type": "string"}),
        "when" => enumeration(whens),
        "changes" => json!({"oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "object", "required": ["paths"], "additionalProperties": false, "properties": {
                "paths": {"type": "array", "items": {"type": "string"}}, "compare_to": {"type": "string"}}}
        ]}),
        "exists" => json!({"oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "object", "required": ["paths"], "additionalProperties": false,
             "dependencies": {"ref": ["project"]}, "properties": {
                "paths": {"type": "array", "items": {"type": "string"}}, "project": {"type": "string"}, "ref": {"type": "string"}}}
        ]}),
        "allow_failure" => shape(Shape::AllowFailure),
        "variables" => json!({"$ref": "#/definitions/variables"}),
        "needs" => shape(Shape::Needs),
        "start_in" => shape(Shape::Duration),
        "interruptible" => json!({"type": "boolean"}),
        "auto_cancel" => auto_cancel(),
        _ => json!({}),
    }))
}

fn shape(s: Shape) -> Value {
    match s {
        Shape::Str => json!({"type": "string"}),
        Shape::Bool => json!({"type": "boolean"}),
        Shape::Int => json!({"type": "integer"}),
        Shape::Duration => json!({"type": ["string", "integer"]}),
        Shape::StrList => string_or_list(),
        Shape::List => json!({"type": "array", "items": {"type": "string"}}),
        Shape::Script => json!({"$ref": "#/definitions/optional_script"}),
        Shape::Variables => json!({"$ref": "#/definitions/job_variables"}),
        Shape::Image => json!({"$ref": "#/definitions/image"}),
        // GitLab's `ComposableArray` entries flatten nested lists (from `!reference`) fully.
        Shape::Services => json!({"type": "array", "items": nested("service")}),
        Shape::Rules => json!({"type": "array", "items": nested("rule")}),
        Shape::Needs => json!({"type": "array", "items": nested("need")}),
        Shape::Artifacts => json!({"$ref": "#/definitions/artifacts"}),
        Shape::Cache => json!({"oneOf": [
            {"$ref": "#/definitions/cache"},
            {"type": "array", "maxItems": 4, "items": nested("cache")}
        ]}),
        Shape::Environment => json!({"$ref": "#/definitions/environment"}),
        Shape::Retry => json!({"oneOf": [
            {"type": "integer", "minimum": 0, "maximum": 2},
            closed(props(keywords::RETRY, |k| match k {
                "max" => json!({"type": "integer", "minimum": 0, "maximum": 2}),
                "when" => json!({"oneOf": [enumeration(keywords::RETRY_WHEN), {"type": "array", "items": enumeration(keywords::RETRY_WHEN)}]}),
                _ => exit_codes(),
            }))
        ]}),
        Shape::Parallel => json!({"oneOf": [
            {"type": "integer", "minimum": 1, "maximum": 200},
            {"type": "object", "properties": {"matrix": {"type": "array", "items": {"type": "object"}}}, "required": ["matrix"], "additionalProperties": false}
        ]}),
        Shape::AllowFailure => json!({"oneOf": [
            {"type": "boolean"},
            {"type": "object", "properties": {"exit_codes": exit_codes()}, "required": ["exit_codes"], "additionalProperties": false}
        ]}),
        Shape::When => enumeration(keywords::WHEN),
        Shape::Trigger => {
            let mut m = closed(props(keywords::TRIGGER, |k| match k {
                "project" => project_path(),
                "strategy" => enumeration(keywords::TRIGGER_STRATEGY),
                "forward" => closed(props(
                    keywords::TRIGGER_FORWARD,
                    |_| json!({"type": "boolean"}),
                )),
                "include" => {
                    json!({"oneOf": [{"type": "string"}, {"type": "array", "maxItems": 3}]})
                }
                _ => json!({}),
            }));
            m["dependencies"] = json!({"branch": ["project"]});
            json!({"oneOf": [project_path(), m]})
        }
        Shape::Inherit => closed(props(
            keywords::INHERIT,
            |_| json!({"oneOf": [{"type": "boolean"}, {"type": "array", "items": {"type": "string"}}]}),
        )),
        Shape::Filter => {
            json!({"oneOf": [{"type": "null"}, {"type": "array", "items": {"type": "string"}}, closed(props(keywords::FILTER, |_| json!({})))]})
        }
        Shape::Hooks => closed(props(
            keywords::HOOKS,
            |_| json!({"$ref": "#/definitions/optional_script"}),
        )),
        Shape::Secrets => {
            json!({"type": "object", "additionalProperties": {"$ref": "#/definitions/secret"}})
        }
        Shape::IdTokens => json!({"type": "object", "additionalProperties": {
            "type": "object", "required": ["aud"], "additionalProperties": false,
            "properties": {"aud": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": true}]}}
        }}),
        Shape::Steps => json!({"type": "array", "items": {"$ref": "#/definitions/step"}}),
        Shape::Release => {
            let mut r = closed(props(keywords::RELEASE, |k| match k {
                "tag_name" | "description" => non_empty(),
                "milestones" => json!({"type": "array", "items": {"type": "string"}}),
                "assets" => {
                    json!({"type": "object", "additionalProperties": false, "required": ["links"], "properties": {
                        "links": {"type": "array", "minItems": 1, "items": {
                            "type": "object", "additionalProperties": false, "required": ["name", "url"], "properties": {
                                "name": non_empty(), "url": non_empty(), "filepath": {"type": "string"},
                                "link_type": enumeration(&["runbook", "package", "image", "other"])
                            }
                        }}
                    }})
                }
                _ => json!({"type": "string"}),
            }));
            r["required"] = json!(["tag_name", "description"]);
            r
        }
        Shape::Choice(values) => enumeration(values),
        Shape::Object => json!({"type": ["object", "boolean"]}),
    }
}

fn non_empty() -> Value {
    json!({"type": "string", "minLength": 1})
}

fn exit_codes() -> Value {
    json!({"oneOf": [
        {"type": "integer", "minimum": 0, "maximum": 255},
        {"type": "array", "minItems": 1, "uniqueItems": true, "items": {"type": "integer", "minimum": 0, "maximum": 255}}
    ]})
}

/// `group/project` (no blanks, no leading or trailing `/`) or a `$VARIABLE`.
fn project_path() -> Value {
    json!({"type": "string", "pattern": keywords::PROJECT_PATH_PATTERN})
}

fn auto_cancel() -> Value {
    let mut m = Map::default();
    for (key, values) in keywords::AUTO_CANCEL {
        m.insert(key.to_string(), enumeration(values));
    }
    closed(m)
}

fn definitions(job_props: Map<String, Value>) -> Value {
    let pull_policy = json!({"oneOf": [
        enumeration(keywords::PULL_POLICY),
        {"type": "array", "minItems": 1, "uniqueItems": true, "items": enumeration(keywords::PULL_POLICY)}
    ]});
    let user = json!({"type": "string", "minLength": 1, "maxLength": 255});
    let item = |keys: &[&str]| {
        let mut m = closed(props(keys, |k| match k {
            "name" | "alias" => non_empty(),
            "entrypoint" => json!({"type": "array", "minItems": 1, "items": {"type": "string"}}),
            "command" => string_or_list(),
            "pull_policy" => pull_policy.clone(),
            "variables" => json!({"$ref": "#/definitions/job_variables"}),
            "docker" => closed(props(&["user", "platform"], |k| match k {
                "user" => user.clone(),
                _ => non_empty(),
            })),
            "kubernetes" => closed(props(
                &["user"],
                |_| json!({"oneOf": [{"type": "integer"}, user.clone()]}),
            )),
            _ => json!({}),
        }));
        m["required"] = json!(["name"]);
        json!({"oneOf": [non_empty(), m]})
    };
    let cache_files =
        json!({"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}});
    json!({
        "job": {"type": "object", "properties": job_props, "additionalProperties": false},
        "nested_rule": {"anyOf": [{"$ref": "#/definitions/rule"}, {"type": "array", "items": {"$ref": "#/definitions/nested_rule"}}]},
        "nested_need": {"anyOf": [{"$ref": "#/definitions/need"}, {"type": "array", "items": {"$ref": "#/definitions/nested_need"}}]},
        "nested_cache": {"anyOf": [{"$ref": "#/definitions/cache"}, {"type": "array", "items": {"$ref": "#/definitions/nested_cache"}}]},
        "nested_service": {"anyOf": [{"$ref": "#/definitions/service"}, {"type": "array", "items": {"$ref": "#/definitions/nested_service"}}]},
        "optional_script": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/definitions/optional_script"}}]},
        "script": {"oneOf": [
            {"type": "string", "minLength": 1},
            {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/optional_script"}}
        ]},
        "stages": {"type": "array", "items": {"oneOf": [{"type": "string"}, {"$ref": "#/definitions/stages"}]}},
        "variables": {"type": "object", "additionalProperties": {"oneOf": [
            {"type": ["string", "number", "boolean", "null"]},
            closed(props(keywords::VARIABLE, |k| match k {
                "expand" => json!({"type": "boolean"}),
                "options" => json!({"type": "array", "items": {"type": "string"}}),
                _ => json!({"type": ["string", "number", "boolean", "null"]}),
            }))
        ]}},
        "job_variables": {"type": "object", "additionalProperties": {"oneOf": [
            {"type": ["string", "number", "boolean", "null"]},
            closed(props(&["value", "expand"], |k| match k {
                "expand" => json!({"type": "boolean"}),
                _ => json!({"type": ["string", "number", "boolean", "null"]}),
            }))
        ]}},
        "image": item(keywords::IMAGE),
        "service": item(keywords::SERVICE),
        "rule": rule(keywords::RULE, keywords::WHEN),
        "workflow_rule": rule(keywords::WORKFLOW_RULE, &["always", "never"]),
        "need": {"oneOf": [{"type": "string"}, {
            "allOf": [closed(props(keywords::NEED, |k| match k {
                "artifacts" | "optional" => json!({"type": "boolean"}),
                "job" => json!({"type": "string"}),
                _ => json!({}),
            }))],
            "required": ["job"],
            "dependencies": {"project": ["ref"]}
        }]},
        "artifacts": closed(props(keywords::ARTIFACTS, |k| match k {
            "paths" | "exclude" => json!({"type": "array", "items": {"type": "string"}}),
            "when" => enumeration(keywords::ARTIFACTS_WHEN),
            "access" => enumeration(keywords::ARTIFACTS_ACCESS),
            "untracked" | "public" => json!({"type": "boolean"}),
            "reports" => closed(props(keywords::REPORTS, |k| match k {
                "coverage_report" => json!({"oneOf": [{"type": "null"}, closed(props(&["coverage_format", "path"], |k| match k {
                    "path" => non_empty(),
                    _ => enumeration(&["cobertura", "jacoco"]),
                }))]}),
                _ => json!({}),
            })),
            "expire_in" => shape(Shape::Duration),
            _ => json!({"type": "string"}),
        })),
        "cache": closed(props(keywords::CACHE, |k| match k {
            "paths" | "fallback_keys" => json!({"type": "array", "items": {"type": "string"}}),
            "policy" => json!({"type": "string", "pattern": keywords::CACHE_POLICY_PATTERN}),
            "when" => enumeration(keywords::ARTIFACTS_WHEN),
            "untracked" | "unprotect" => json!({"type": "boolean"}),
            "key" => json!({"oneOf": [
                {"type": ["string", "number"], "not": {"pattern": "/"}},
                closed(props(keywords::CACHE_KEY, |k| match k {
                    "prefix" => json!({"type": "string"}),
                    _ => cache_files.clone(),
                }))
            ]}),
            _ => json!({}),
        })),
        "environment": {"oneOf": [{"type": "string"}, closed(props(keywords::ENVIRONMENT, |k| match k {
            "action" => enumeration(keywords::ENVIRONMENT_ACTION),
            "deployment_tier" => json!({"oneOf": [
                enumeration(keywords::DEPLOYMENT_TIER),
                {"type": "string", "pattern": "\\$"}
            ]}),
            "kubernetes" => closed(props(
                &["namespace", "agent", "flux_resource_path", "dashboard", "managed_resources"],
                |k| match k {
                    "namespace" => non_empty(),
                    "agent" | "flux_resource_path" => json!({"type": "string"}),
                    _ => json!({"type": "object"}),
                },
            )),
            "auto_stop_in" => shape(Shape::Duration),
            "url" => json!({"type": "string", "pattern": keywords::ENVIRONMENT_URL_PATTERN}),
            _ => json!({"type": "string"}),
        }))]},
        "secret": secret(),
        "step": step(),
        "include": {"oneOf": [
            {"type": "string"},
            {"type": "array", "items": {"oneOf": [{"type": "string"}, {"$ref": "#/definitions/include_item"}]}},
            {"$ref": "#/definitions/include_item"}
        ]},
        "include_item": {"type": "object", "properties": {
            "local": {"type": "string"}, "project": project_path(), "file": string_or_list(),
            "ref": {"type": "string"}, "remote": {"type": "string"}, "integrity": {"type": "string"},
            "template": {"type": "string"},
            "component": {"type": "string", "pattern": keywords::COMPONENT_PATTERN},
            "rules": {"type": "array"}, "inputs": {"type": "object"}, "cache": {}
        }, "additionalProperties": false},
    })
}

/// One secret: exactly one provider, plus `file` and `token`.
fn secret() -> Value {
    let mut m = closed(props(
        &[keywords::SECRET_PROVIDERS, keywords::SECRET_OPTIONS].concat(),
        |k| match k {
            "file" => json!({"type": "boolean"}),
            "token" => json!({"type": "string"}),
            "vault" => json!({"oneOf": [{"type": "string"}, {
                "type": "object", "required": ["engine", "path", "field"], "additionalProperties": false,
                "properties": {"engine": {"type": "object", "required": ["name", "path"]}, "path": {"type": "string"}, "field": {"type": "string"}}
            }]}),
            "aws_secrets_manager" => {
                json!({"oneOf": [{"type": "string"}, {"type": "object", "required": ["secret_id"]}]})
            }
            _ => json!({"type": "object", "required": ["name"]}),
        },
    ));
    let one_of: Vec<Value> = keywords::SECRET_PROVIDERS
        .iter()
        .map(|p| json!({"required": [p]}))
        .collect();
    m["anyOf"] = json!(one_of);
    m["dependencies"] = json!({"gcp_secret_manager": ["token"]});
    m
}

/// One CI step: a named reference, a nested `run`, an action, a script or an `exec`.
fn step() -> Value {
    let name = json!({"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"});
    let env = json!({"type": "object", "propertyNames": {"pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"}, "additionalProperties": {"type": "string"}});
    let values =
        json!({"type": "object", "propertyNames": {"pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"}});
    let kind = |properties: Value, required: &[&str]| json!({"type": "object", "additionalProperties": false, "required": required, "properties": properties});
    json!({"oneOf": [
        kind(json!({"name": name, "env": env, "inputs": values, "step": {"oneOf": [
            {"type": "string"},
            {"type": "object", "additionalProperties": false, "required": ["git"], "properties": {"git": {
                "type": "object", "additionalProperties": false, "required": ["url", "rev"],
                "properties": {"url": {"type": "string"}, "rev": {"type": "string"}, "dir": {"type": "string"}, "file": {"type": "string"}}}}},
            {"type": "object", "additionalProperties": false, "required": ["oci"], "properties": {"oci": {
                "type": "object", "additionalProperties": false, "required": ["registry", "repository", "tag"],
                "properties": {"registry": {"type": "string"}, "repository": {"type": "string"}, "tag": {"type": "string"}, "dir": {"type": "string"}, "file": {"type": "string"}}}}}
        ]}}), &["name", "step"]),
        kind(json!({"env": env, "run": {"type": "array", "items": {"$ref": "#/definitions/step"}}, "outputs": values, "delegate": {"type": "string"}}), &["run"]),
        kind(json!({"name": name, "env": env, "inputs": values, "action": non_empty()}), &["name", "action"]),
        kind(json!({"name": name, "env": env, "script": non_empty()}), &["name", "script"]),
        kind(json!({"env": env, "exec": {"type": "object", "additionalProperties": false, "required": ["command"], "properties": {
            "command": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "work_dir": {"type": "string"}
        }}}), &["exec"])
    ]})
}
