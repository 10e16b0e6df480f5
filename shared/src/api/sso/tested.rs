//! The SSO callback's answer to an admin portal's test sign-in (SPEC §19).

use super::sign_in::SignedIn;
use crate::error::ApiError;
use crate::pipeline::{Ctx, Reply};
use crate::portal::page::MessagePage;
use crate::sso_login::Failure;
use crate::sso_login::attempt::Attempt;
use lambda_http::http::StatusCode;

/// The SSO callback's answer to a portal's test sign-in: a page with the
/// profile the provider's id_token gave, or why it failed — nobody is
/// signed in, no code issued.
pub(super) fn tested(
    ctx: &Ctx,
    attempt: &Attempt,
    outcome: Result<SignedIn, Failure>,
    portal_page: &str,
) -> Result<Reply, ApiError> {
    let back = Some((portal_page.to_owned(), "Back to the portal".to_owned()));
    tracing::info!(
        target: "tether::portal",
        organization_id = %attempt.organization_id,
        identity_provider_id = %attempt.identity_provider_id,
        outcome = match &outcome { Ok(_) => "succeeded", Err(f) => f.reason() },
        "portal test sign-in"
    );
    match outcome {
        Ok(SignedIn::Tested(profile)) => {
            let mut details = vec![
                ("Issuer".to_owned(), profile.issuer.clone()),
                ("Subject (sub)".to_owned(), profile.sub.clone()),
            ];
            let optional = [
                ("Email", profile.email.clone()),
                (
                    "Email verified",
                    profile.email_verified.map(|v| v.to_string()),
                ),
                ("Name", profile.name.clone()),
                ("Username", profile.preferred_username.clone()),
            ];
            details.extend(
                optional
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.to_owned(), v?))),
            );
            page(
                ctx,
                "Test sign-in succeeded",
                "Your identity provider signed you in and Tether verified its id_token. \
                 This is the profile it sent; nobody was signed in to the app.",
                details,
                back,
            )
        }
        Ok(SignedIn::Code(_)) => Err(ApiError::internal("a test sign-in issued a code")),
        Err(failure) => page(
            ctx,
            "Test sign-in failed",
            &format!("{}: {}", failure.error(), failure.description()),
            vec![("Reason".to_owned(), failure.reason().to_owned())],
            back,
        ),
    }
}

/// The test's page (200: the page is the answer, whatever the outcome).
fn page(
    ctx: &Ctx,
    title: &str,
    message: &str,
    details: Vec<(String, String)>,
    next: Option<(String, String)>,
) -> Result<Reply, ApiError> {
    let page = MessagePage {
        title: title.to_owned(),
        message: message.to_owned(),
        details,
        next,
        request_id: ctx.request_id.to_string(),
    };
    Reply::page(StatusCode::OK, &page)
}
