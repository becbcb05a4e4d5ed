use std::sync::Arc;

use api::app::App;
use karaoke_shared::runtime::Context;
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    karaoke_shared::telemetry::init();
    let ctx = Context::from_env().await?;
    let lastfm = ctx.lastfm_for_requests()?;
    let spotify = ctx.spotify();
    let app = Arc::new(App {
        ctx,
        lastfm,
        spotify,
    });
    run(service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, Error>(app.handle(req).await) }
    }))
    .await
}
