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
    let job_props: Map<String, Value> = keywords::JOB
        .iter()
        .map(|k| (k.name.to_string(), described(k)))
        .collect();
    let default_props: Map<String, Value> = keywords::DEFAULT
        .iter()
        .map(|name| {
            let k = keywords::JOB.iter().find(|k| k.name == *name);
            (name.to_string(), k.map_or(json!({}), described))
        })
        .collect();
    let mut top = Map::default();
    top.insert("default".into(), closed(default_props));
    top.insert("include".into(), json!({"$ref": "#/definitions/include"}));
    top.insert("stages".into(), json!({"$ref": "#/definitions/stages"}));
    top.insert(
        "variables".into(),
        json!({"$ref": "#/definitions/variables"}),
    );
    top.insert(
        "workflow".into(),
        closed(props(keywords::WORKFLOW, |k| match k {
            "rules" => json!({"type": "array", "items": rule(&["always", "never"])}),
            "name" => json!({"type": "string"}),
            _ => json!({}),
        })),
    );
    top.insert("spec".into(), json!({"type": "object"}));
    for key in keywords::GLOBAL_DEFAULTS {
        if let Some(k) = keywords::JOB.iter().find(|k| k.name == *key) {
            top.insert(key.to_string(), described(k));
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

fn rule(whens: &[&str]) -> Value {
    closed(props(keywords::RULE, |k| match k {
        "if" => json!({"type": "string"}),
        "when" => enumeration(whens),
        "changes" | "exists" => {
            json!({"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "object"}]})
        }
        "allow_failure" => shape(Shape::AllowFailure),
        "variables" => json!({"$ref": "#/definitions/variables"}),
        "needs" => shape(Shape::Needs),
        "start_in" => shape(Shape::Duration),
        "interruptible" => json!({"type": "boolean"}),
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
        Shape::Script => json!({"$ref": "#/definitions/script"}),
        Shape::Variables => json!({"$ref": "#/definitions/variables"}),
        Shape::Image => json!({"$ref": "#/definitions/image"}),
        Shape::Services => json!({"type": "array", "items": {"$ref": "#/definitions/service"}}),
        Shape::Rules => json!({"type": "array", "items": {"$ref": "#/definitions/rule"}}),
        Shape::Needs => json!({"type": "array", "items": {"$ref": "#/definitions/need"}}),
        Shape::Artifacts => json!({"$ref": "#/definitions/artifacts"}),
        Shape::Cache => json!({"oneOf": [
            {"$ref": "#/definitions/cache"},
            {"type": "array", "maxItems": 4, "items": {"$ref": "#/definitions/cache"}}
        ]}),
        Shape::Environment => json!({"$ref": "#/definitions/environment"}),
        Shape::Retry => json!({"oneOf": [
            {"type": "integer", "minimum": 0, "maximum": 2},
            closed(props(keywords::RETRY, |k| match k {
                "max" => json!({"type": "integer", "minimum": 0, "maximum": 2}),
                "when" => json!({"oneOf": [enumeration(keywords::RETRY_WHEN), {"type": "array", "items": enumeration(keywords::RETRY_WHEN)}]}),
                _ => json!({"oneOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]}),
            }))
        ]}),
        Shape::Parallel => json!({"oneOf": [
            {"type": "integer", "minimum": 1, "maximum": 200},
            {"type": "object", "properties": {"matrix": {"type": "array", "items": {"type": "object"}}}, "additionalProperties": false}
        ]}),
        Shape::AllowFailure => json!({"oneOf": [
            {"type": "boolean"},
            {"type": "object", "properties": {"exit_codes": {"oneOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]}}, "additionalProperties": false}
        ]}),
        Shape::When => enumeration(keywords::WHEN),
        Shape::Trigger => {
            json!({"oneOf": [{"type": "string"}, closed(props(keywords::TRIGGER, |_| json!({})))]})
        }
        Shape::Inherit => closed(props(
            keywords::INHERIT,
            |_| json!({"oneOf": [{"type": "boolean"}, {"type": "array", "items": {"type": "string"}}]}),
        )),
        Shape::Filter => {
            json!({"oneOf": [{"type": "array", "items": {"type": "string"}}, closed(props(keywords::FILTER, |_| json!({})))]})
        }
        Shape::Object => json!({"type": ["object", "boolean"]}),
        Shape::Any => json!({}),
    }
}

fn definitions(job_props: Map<String, Value>) -> Value {
    let item = |keys: &[&str]| {
        json!({"oneOf": [{"type": "string"}, closed(props(keys, |k| match k {
            "name" | "alias" => json!({"type": "string"}),
            "entrypoint" | "command" => string_or_list(),
            "pull_policy" => json!({"oneOf": [enumeration(keywords::PULL_POLICY), {"type": "array", "items": enumeration(keywords::PULL_POLICY)}]}),
            "variables" => json!({"$ref": "#/definitions/variables"}),
            _ => json!({}),
        }))]})
    };
    json!({
        "job": {"type": "object", "properties": job_props, "additionalProperties": false},
        "script": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/definitions/script"}}]},
        "stages": {"type": "array", "items": {"oneOf": [{"type": "string"}, {"$ref": "#/definitions/stages"}]}},
        "variables": {"type": "object", "additionalProperties": {"oneOf": [
            {"type": ["string", "number"]},
            closed(props(keywords::VARIABLE, |k| match k {
                "expand" => json!({"type": "boolean"}),
                "options" => json!({"type": "array", "items": {"type": "string"}}),
                _ => json!({"type": ["string", "number"]}),
            }))
        ]}},
        "image": item(keywords::IMAGE),
        "service": item(keywords::SERVICE),
        "rule": rule(keywords::WHEN),
        "need": {"oneOf": [{"type": "string"}, closed(props(keywords::NEED, |k| match k {
            "artifacts" | "optional" => json!({"type": "boolean"}),
            "job" => json!({"type": "string"}),
            _ => json!({}),
        }))]},
        "artifacts": closed(props(keywords::ARTIFACTS, |k| match k {
            "paths" | "exclude" => json!({"type": "array", "items": {"type": "string"}}),
            "when" => enumeration(keywords::ARTIFACTS_WHEN),
            "access" => enumeration(keywords::ARTIFACTS_ACCESS),
            "untracked" | "public" => json!({"type": "boolean"}),
            "reports" => closed(props(keywords::REPORTS, |_| json!({}))),
            "expire_in" => shape(Shape::Duration),
            _ => json!({"type": "string"}),
        })),
        "cache": closed(props(keywords::CACHE, |k| match k {
            "paths" | "fallback_keys" => json!({"type": "array", "items": {"type": "string"}}),
            "policy" => enumeration(keywords::CACHE_POLICY),
            "when" => enumeration(keywords::ARTIFACTS_WHEN),
            "untracked" | "unprotect" => json!({"type": "boolean"}),
            "key" => json!({"oneOf": [{"type": ["string", "number"], "not": {"pattern": "/"}}, {"type": "object"}]}),
            _ => json!({}),
        })),
        "environment": {"oneOf": [{"type": "string"}, closed(props(keywords::ENVIRONMENT, |k| match k {
            "action" => enumeration(keywords::ENVIRONMENT_ACTION),
            "deployment_tier" => enumeration(keywords::DEPLOYMENT_TIER),
            "kubernetes" => json!({"type": "object", "properties": {"namespace": {"type": "string"}}}),
            "auto_stop_in" => shape(Shape::Duration),
            _ => json!({"type": "string"}),
        }))]},
        "include": {"oneOf": [
            {"type": "string"},
            {"type": "array", "items": {"oneOf": [{"type": "string"}, {"$ref": "#/definitions/include_item"}]}},
            {"$ref": "#/definitions/include_item"}
        ]},
        "include_item": {"type": "object", "properties": {
            "local": {"type": "string"}, "project": {"type": "string"}, "file": string_or_list(),
            "ref": {"type": "string"}, "remote": {"type": "string"}, "integrity": {"type": "string"},
            "template": {"type": "string"}, "component": {"type": "string"},
            "rules": {"type": "array"}, "inputs": {"type": "object"}, "cache": {}
        }, "additionalProperties": false},
    })
}
