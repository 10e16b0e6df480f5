//! The admin portal (SPEC §19): a web page an organization's IT admin opens
//! from a one-time link its app minted, to set up SSO, directory sync and
//! webhooks without an API key.
//!
//! A link (`tpl_…`) opens a session (a cookie, `tps_…`) once; both name the
//! organization, the intent they were minted for and the API key that
//! minted them. Every portal request is the session's, admitted by the one
//! pipeline ([`crate::pipeline`]): charged to the organization's bucket,
//! decided by Cedar as a `PortalSession` principal whose `views` are what
//! its intent allows, logged. The pages are [`page`]'s templates.

pub mod links;
pub mod page;
pub mod usage;

use crate::ids::{OrganizationId, PortalLinkId};
use std::fmt;

/// A portal session, once its cookie is authenticated: what the pipeline
/// decides for and the operation gets.
#[derive(Debug, Clone)]
pub struct PortalPrincipal {
    /// The session's organization.
    pub organization_id: OrganizationId,
    /// The session (its link's id).
    pub id: PortalLinkId,
    /// What its link was minted for.
    pub intent: Intent,
    /// The app's page the portal links back to.
    pub return_url: Option<String>,
    /// The token every form of the session carries (never stored).
    pub csrf: String,
}

/// What a link is minted for: the views its session may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Register and test the SSO connection.
    Sso,
    /// Create a directory and follow its SCIM requests.
    Directory,
    /// Manage webhook endpoints and their deliveries.
    Webhooks,
    /// Read the event log.
    Events,
    /// Every view, usage included.
    All,
}

impl Intent {
    /// Every intent, as the API spells them.
    pub const NAMES: [&'static str; 5] = ["sso", "directory", "webhooks", "events", "all"];

    /// The intent `name` spells.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "sso" => Self::Sso,
            "directory" => Self::Directory,
            "webhooks" => Self::Webhooks,
            "events" => Self::Events,
            "all" => Self::All,
            _ => return None,
        })
    }

    /// As the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sso => "sso",
            Self::Directory => "directory",
            Self::Webhooks => "webhooks",
            Self::Events => "events",
            Self::All => "all",
        }
    }

    /// The views a session of this intent may open, in the navigation's order.
    pub fn views(self) -> &'static [View] {
        match self {
            Self::Sso => &[View::Sso],
            Self::Directory => &[View::Directory],
            Self::Webhooks => &[View::Webhooks],
            Self::Events => &[View::Events],
            Self::All => &View::ALL,
        }
    }
}

impl fmt::Display for Intent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One page of the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The SSO connection.
    Sso,
    /// Directory sync.
    Directory,
    /// Webhook endpoints and deliveries.
    Webhooks,
    /// The event log.
    Events,
    /// Turns, relationships and refusals against the plan.
    Usage,
}

impl View {
    /// Every view, in the navigation's order.
    pub const ALL: [Self; 5] = [
        Self::Sso,
        Self::Directory,
        Self::Webhooks,
        Self::Events,
        Self::Usage,
    ];

    /// Its name: the path segment under `/portal/` and the Cedar
    /// `PortalSession`'s `views` member.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sso => "sso",
            Self::Directory => "directory",
            Self::Webhooks => "webhooks",
            Self::Events => "events",
            Self::Usage => "usage",
        }
    }

    /// The navigation's label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Sso => "Single sign-on",
            Self::Directory => "Directory sync",
            Self::Webhooks => "Webhooks",
            Self::Events => "Events",
            Self::Usage => "Usage",
        }
    }

    /// Its page's path.
    pub fn path(self) -> &'static str {
        match self {
            Self::Sso => "/portal/sso",
            Self::Directory => "/portal/directory",
            Self::Webhooks => "/portal/webhooks",
            Self::Events => "/portal/events",
            Self::Usage => "/portal/usage",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_intent_parses_back_and_opens_its_views() {
        for name in Intent::NAMES {
            let intent = Intent::parse(name).unwrap();
            assert_eq!(intent.as_str(), name);
            assert!(!intent.views().is_empty());
        }
        assert_eq!(Intent::parse("ALL"), None);
        assert_eq!(Intent::All.views().len(), View::ALL.len());
        assert_eq!(Intent::Sso.views(), &[View::Sso]);
        // Usage only under `all`: no intent but `all` names it.
        for intent in ["sso", "directory", "webhooks", "events"] {
            assert!(
                !Intent::parse(intent)
                    .unwrap()
                    .views()
                    .contains(&View::Usage)
            );
        }
    }
}
