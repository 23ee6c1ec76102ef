//! The pod's `.status` in Kubernetes JSON, computed from the containers' real states:
//! phase, conditions (with transition times), container statuses, IPs.

use super::clock;
use super::state::{Ctr, Live, State};
use serde_json::{Value, json};

/// The pod's restartPolicy (default Always).
pub fn restart_policy(pod: &Value) -> &str {
    pod.pointer("/spec/restartPolicy")
        .and_then(|p| p.as_str())
        .unwrap_or("Always")
}

/// Whether a container that exited with `code` is started again under `policy`.
pub fn restarts(policy: &str, code: i64) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => code != 0,
        _ => true,
    }
}

/// Pending, Running, Succeeded or Failed.
pub fn phase(live: &Live, policy: &str) -> &'static str {
    if live.failed.is_some() {
        return "Failed";
    }
    if !live.initialized {
        let init_failed = live
            .init
            .iter()
            .any(|c| matches!(c.state, State::Terminated { exit_code, .. } if exit_code != 0));
        return if init_failed && policy == "Never" {
            "Failed"
        } else {
            "Pending"
        };
    }
    let cs = &live.containers;
    if cs.iter().any(|c| !c.ever_ran()) {
        return "Pending";
    }
    if cs
        .iter()
        .any(|c| !matches!(c.state, State::Terminated { .. }))
    {
        return "Running";
    }
    let codes: Vec<i64> = cs
        .iter()
        .filter_map(|c| match c.state {
            State::Terminated { exit_code, .. } => Some(exit_code),
            _ => None,
        })
        .collect();
    if codes.iter().any(|c| restarts(policy, *c)) {
        "Running"
    } else if codes.iter().all(|c| *c == 0) {
        "Succeeded"
    } else {
        "Failed"
    }
}

fn state_json(s: &State) -> Value {
    match s {
        State::Waiting { reason, message } if message.is_empty() => {
            json!({"waiting": {"reason": reason}})
        }
        State::Waiting { reason, message } => {
            json!({"waiting": {"reason": reason, "message": message}})
        }
        State::Running { started_at } => json!({"running": {"startedAt": started_at}}),
        State::Terminated {
            exit_code,
            reason,
            started_at,
            finished_at,
            container_id,
        } => json!({"terminated": {
            "exitCode": exit_code, "reason": reason, "startedAt": started_at,
            "finishedAt": finished_at, "containerID": format!("docker://{container_id}")}}),
    }
}

fn container_json(c: &Ctr) -> Value {
    let mut v = json!({
        "name": c.name,
        "image": c.image,
        "imageID": c.image_id,
        "ready": c.ready,
        "started": matches!(c.state, State::Running { .. }),
        "restartCount": c.restart_count,
        "state": state_json(&c.state),
        "lastState": c.last_state.as_ref().map(state_json).unwrap_or_else(|| json!({})),
    });
    if let Some(id) = &c.id {
        v["containerID"] = json!(format!("docker://{id}"));
    }
    v
}

/// Updates `live.conditions` and returns the full PodStatus JSON.
pub fn pod_status(live: &mut Live, pod: &Value, host_ip: &str) -> Value {
    let policy = restart_policy(pod).to_string();
    let phase = phase(live, &policy);
    let containers_ready =
        live.initialized && !live.containers.is_empty() && live.containers.iter().all(|c| c.ready);
    let now = clock::now();
    let wanted = [
        ("PodScheduled", true),
        ("Initialized", live.initialized),
        ("ContainersReady", containers_ready),
        ("Ready", containers_ready),
    ];
    let mut conditions = Vec::new();
    for (kind, status) in wanted {
        let entry = live
            .conditions
            .entry(kind.to_string())
            .or_insert_with(|| (status, now.clone()));
        if entry.0 != status {
            *entry = (status, now.clone());
        }
        let mut c = json!({
            "type": kind,
            "status": if status { "True" } else { "False" },
            "lastProbeTime": null,
            "lastTransitionTime": entry.1,
        });
        if !status && kind != "Initialized" {
            c["reason"] = json!("ContainersNotReady");
            let not_ready: Vec<&str> = live
                .containers
                .iter()
                .filter(|c| !c.ready)
                .map(|c| c.name.as_str())
                .collect();
            c["message"] = json!(format!(
                "containers with unready status: [{}]",
                not_ready.join(" ")
            ));
        } else if !status {
            c["reason"] = json!("ContainersNotInitialized");
        }
        conditions.push(c);
    }
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "qosClass": "BestEffort",
        "containerStatuses": live.containers.iter().map(container_json).collect::<Vec<_>>(),
    });
    if !live.init.is_empty() {
        status["initContainerStatuses"] =
            json!(live.init.iter().map(container_json).collect::<Vec<_>>());
    }
    if !live.ip.is_empty() {
        status["podIP"] = json!(live.ip);
        status["podIPs"] = json!([{"ip": live.ip}]);
    }
    if let Some(t) = &live.start_time {
        status["startTime"] = json!(t);
    }
    if let Some((reason, message)) = &live.failed {
        status["reason"] = json!(reason);
        status["message"] = json!(message);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::state::Ctr;

    fn terminated(code: i64) -> State {
        State::Terminated {
            exit_code: code,
            reason: "Error".into(),
            started_at: String::new(),
            finished_at: String::new(),
            container_id: String::new(),
        }
    }

    #[test]
    fn phases_follow_exit_codes_and_policy() {
        let mut live = Live {
            initialized: true,
            ..Default::default()
        };
        let mut c = Ctr::new(&json!({"name": "a", "image": "i"}));
        live.containers
            .push(Ctr::new(&json!({"name": "a", "image": "i"})));
        assert_eq!(phase(&live, "Always"), "Pending");
        c.state = terminated(0);
        live.containers[0] = c;
        assert_eq!(phase(&live, "Never"), "Succeeded");
        live.containers[0].state = terminated(2);
        assert_eq!(phase(&live, "Never"), "Failed");
        assert_eq!(phase(&live, "OnFailure"), "Running");
        live.containers[0].state = State::Running {
            started_at: String::new(),
        };
        assert_eq!(phase(&live, "Never"), "Running");
    }
}
