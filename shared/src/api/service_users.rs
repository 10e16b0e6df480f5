//! End users an external service links and manages (SPEC §11).

use crate::end_users::{CreateEndUser, EndUserRecord, Status};
use crate::error::ApiError;
use crate::external_services::users::{self as users, Linked, PutUser, link_sk, view};
use crate::ids::OrganizationId;
use crate::pipeline::{Json, Reply, ServiceCtx};
use lambda_http::http::StatusCode;

/// The PUT: 201 with a new end user, 200 with the updated one.
pub async fn put_user(ctx: ServiceCtx, body: Json<PutUser>) -> Result<Reply, ApiError> {
    let service = ctx.service.id;
    let org = ctx.path_id("organizationId", OrganizationId::parse)?;
    let external_user_id = ctx.path_text("externalUserId")?;
    let PutUser {
        email,
        display_name,
        subscription,
    } = body.value;
    let store = &ctx.app.store;
    let now = ctx.app.clock.now();

    // Creation: counts toward the organization's relationships (SPEC §11),
    // under its plan as the pipeline read it for this request.
    let organization = ctx
        .organization
        .as_ref()
        .ok_or(ApiError::OrganizationAccessDenied)?;
    let input = CreateEndUser {
        email: email.clone(),
        display_name: display_name.clone(),
        ..CreateEndUser::default()
    };
    let mut user = EndUserRecord::new(org, input, now).with_subscription(subscription);
    user.external_link_sk = Some(link_sk(service, &external_user_id));
    let existing =
        match users::create_linked(store, service, organization, &external_user_id, &user).await? {
            Linked::Created => {
                return Reply::json(StatusCode::CREATED, &view(&user, &external_user_id));
            }
            Linked::Existing(id) => id,
        };
    users::update_linked(
        store,
        service,
        org,
        existing,
        email,
        display_name,
        subscription,
        now,
    )
    .await?;
    let user = crate::end_users::find(store, org, existing)
        .await?
        .ok_or(ApiError::NotFound {
            resource: "end_user",
        })?;
    debug_assert!(user.status == Status::Active);
    Reply::json(StatusCode::OK, &view(&user, &external_user_id))
}
