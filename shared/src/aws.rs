//! AWS clients from the standard environment (`AWS_ENDPOINT_URL` points them at a local stack).

use aws_config::BehaviorVersion;

pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

pub async fn clients() -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
    let config = sdk_config().await;
    (
        aws_sdk_dynamodb::Client::new(&config),
        aws_sdk_sqs::Client::new(&config),
    )
}
