//! Starts sync jobs: from the start queue (a user pressed "Sync now") and from the EventBridge
//! schedule (every connected user who is due gets an incremental sync).

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use karaoke_shared::runtime::{process_batch, Context};
use karaoke_shared::sync::messages::StartMessage;
use karaoke_shared::sync::schedule;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use tracing::info;

#[tokio::main]
async fn main() -> Result<(), Error> {
    karaoke_shared::telemetry::init();
    let context = Arc::new(Context::from_env().await?);
    let engine = Arc::new(context.engine()?);
    run(service_fn(move |event: LambdaEvent<Value>| {
        let context = context.clone();
        let engine = engine.clone();
        async move {
            if event.payload.get("Records").is_some() {
                let sqs: SqsEvent = serde_json::from_value(event.payload)?;
                let queues = context.queues.clone();
                let response = process_batch(
                    sqs.records,
                    &queues,
                    queues.start_url(),
                    |message: StartMessage, attempts| {
                        let engine = engine.clone();
                        async move {
                            engine
                                .start_job(&message.user_id, &message.job_id, attempts)
                                .await
                        }
                    },
                )
                .await;
                return Ok::<Value, Error>(serde_json::to_value(response)?);
            }
            // Anything else is the schedule (EventBridge "Scheduled Event").
            let report = schedule::start_due_syncs(&context.store, &context.queues).await?;
            info!(?report, "scheduled sync pass");
            Ok(serde_json::to_value(report)?)
        }
    }))
    .await
}
