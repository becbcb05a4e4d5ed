//! `local-signin <user-id>`: signs the user in to the local stack (creating them if needed)
//! and prints an access token, for curl and the browser tests.
//! `local-signin --email <user-id>` prints the email and password to type into the page.

use karaoke_local_auth::{LocalIssuer, LOCAL_PASSWORD};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (email_only, user) = match args.as_slice() {
        [flag, user] if flag == "--email" => (true, user),
        [user] if !user.starts_with('-') => (false, user),
        _ => {
            eprintln!("usage: local-signin [--email] <user-id>   (with .local/stack.env exported)");
            std::process::exit(2);
        }
    };
    let result = async {
        let issuer = LocalIssuer::from_env().await?;
        if email_only {
            let email = issuer.ensure_user(user).await?;
            Ok(format!("{email} {LOCAL_PASSWORD}"))
        } else {
            issuer.sign_in(user).await.map(|t| t.access_token)
        }
    }
    .await;
    match result {
        Ok(out) => println!("{out}"),
        Err(e) => {
            eprintln!("local-signin: {e}");
            std::process::exit(1);
        }
    }
}
