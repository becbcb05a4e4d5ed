//! Consumes the page queue: each message is one page of a user's scrobbles (or a sweep batch).

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use karaoke_shared::runtime::{process_batch, Context, Meter};
use karaoke_shared::sync::messages::WorkMessage;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    karaoke_shared::telemetry::init();
    let context = Context::from_env().await?;
    let engine = Arc::new(context.engine()?);
    let queues = context.queues.clone();
    run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let engine = engine.clone();
        let queues = queues.clone();
        async move {
            let meter = Meter::start(&engine.store);
            let response: SqsBatchResponse = process_batch(
                event.payload.records,
                &queues,
                queues.page_url(),
                |message: WorkMessage, attempts| {
                    let engine = engine.clone();
                    async move { engine.run(message, attempts).await }
                },
            )
            .await;
            meter.log(&engine.store, "sync-worker");
            Ok::<_, Error>(response)
        }
    }))
    .await
}
