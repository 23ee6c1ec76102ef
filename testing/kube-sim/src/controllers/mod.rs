//! Controllers: the loop that makes stored objects true — namespaces (defaults, termination),
//! garbage collection, Deployments → pods, pods → the container runtime, Services → backends
//! and Endpoints, and runtime reports → pod status and Events.

pub mod deployments;
pub mod endpoints;
pub mod gc;
pub mod namespaces;
pub mod pods;
pub mod runtime_events;
pub mod services;

use crate::runtime::RuntimeEvent;
use crate::state::State;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Runs every controller until `stop` turns true.
pub async fn run(
    state: Arc<State>,
    mut events: mpsc::UnboundedReceiver<RuntimeEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let mut memory = pods::Memory::default();
    let mut backends = services::Memory::default();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        namespaces::reconcile(&state, &memory.networks);
        gc::reconcile(&state);
        deployments::reconcile(&state);
        pods::reconcile(&state, &mut memory);
        services::reconcile(&state, &mut backends);
        endpoints::reconcile(&state);
        let changed = state.store.changed.notified();
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
            _ = changed => {
                // Let a burst of writes (e.g. kubectl apply of many objects) settle.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            ev = events.recv() => {
                if let Some(ev) = ev {
                    runtime_events::handle(&state, ev);
                    while let Ok(ev) = events.try_recv() {
                        runtime_events::handle(&state, ev);
                    }
                }
            }
        }
    }
}
