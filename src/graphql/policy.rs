//! Who may call each root field. A field missing here is refused for everyone, and a test
//! walks the schema to make sure every root field has a rule.

use crate::domain::access::{Access, ApiScope, Role};

const ADMIN: &[Role] = &[Role::Admin];
const ADMIN_CURATOR: &[Role] = &[Role::Admin, Role::Curator];
const STAFF: &[Role] = Role::ALL;
const APPEAL_READERS: &[Role] = &[Role::Curator, Role::Coordinator, Role::Executor, Role::Head];
const ROUTERS: &[Role] = &[Role::Curator, Role::Coordinator];
const ANSWERERS: &[Role] = &[Role::Curator, Role::Coordinator, Role::Executor];
/// Those who may attach files to something: the Head only to meetings (the service checks).
const ANSWERERS_AND_HEAD: &[Role] = &[Role::Curator, Role::Coordinator, Role::Executor, Role::Head];
const POLL_READERS: &[Role] = &[Role::Curator, Role::Coordinator, Role::Head];
const ANY_SCOPE: &[ApiScope] = ApiScope::ALL;
/// Those who are notified: whom the escalation rule can name, and the Head (the weekly memo).
/// People only: a token has no notifications.
const NOTIFIED: &[Role] = &[Role::Curator, Role::Coordinator, Role::Executor, Role::Head];

/// How many times one HTTP request (all operations of a batch together) may call an expensive
/// root field: a cap and the key of the budget it draws from. Aliases cannot multiply the
/// work: 200 aliased `login` calls would be 200 Argon2 hashes.
pub fn request_cap(field: &str) -> Option<(&'static str, u32)> {
    Some(match field {
        // Each of these hashes a password (19 MiB, ~50 ms of a core).
        "Mutation.login" | "Mutation.changePassword" | "Mutation.createUser" => ("password", 1),
        "Mutation.importAppeals" | "Mutation.retrainClassifier" => ("bulk", 1),
        "Mutation.ingestAppeals" => ("ingest", 1),
        "Mutation.generatePollInvites" => ("invites", 1),
        "Mutation.sendTestEmail" => ("mail", 1),
        // Each reads the author columns of every appeal.
        "Query.personalDataSubject" | "Mutation.erasePersonalData" => ("privacy", 1),
        "Mutation.requestPollCode" => ("pollCode", 1),
        "Query.analytics" => ("analytics", 10),
        "Query.suggestCategory" | "Query.possibleDuplicates" => ("similarity", 10),
        _ => return None,
    })
}

/// The rule for `Query.field`, `Mutation.field` or `Subscription.field`.
pub fn rule_for(field: &str) -> Option<Access> {
    use Access::{AnyUser, Public, Roles, RolesOrScopes};
    Some(match field {
        "Query.me" => AnyUser,
        "Query.serverInfo" => Public,
        "Mutation.sendTestEmail" | "Query.mailDeliveries" | "Mutation.redeliverMail" => Roles(ADMIN),
        // The service lets only those who may work on the task's appeal do it.
        "Mutation.completeAppealTask" => Roles(ANSWERERS),
        "Query.webhooks"
        | "Query.webhookDeliveries"
        | "Mutation.createWebhook"
        | "Mutation.updateWebhook"
        | "Mutation.rotateWebhookSecret"
        | "Mutation.deleteWebhook"
        | "Mutation.redeliverWebhookDelivery" => Roles(ADMIN),
        "Query.users" | "Query.apiTokens" => Roles(ADMIN),
        "Query.auditLog" => Roles(ADMIN_CURATOR),
        // The subject's rights: a curator (the service also refuses one limited to a
        // territory); ADMIN holds no appeals (59-ФЗ ст. 6), tokens no personal data.
        "Query.personalDataSubject" | "Mutation.erasePersonalData" => Roles(&[Role::Curator]),
        "Mutation.login" | "Mutation.refreshToken" => Public,
        "Mutation.logout" | "Mutation.changePassword" => AnyUser,
        "Mutation.createUser" | "Mutation.updateUser" | "Mutation.createApiToken" | "Mutation.revokeApiToken" => {
            Roles(ADMIN)
        }
        "Query.recipients" | "Query.categories" | "Query.territories" => RolesOrScopes(STAFF, ANY_SCOPE),
        "Mutation.createRecipient"
        | "Mutation.createCategory"
        | "Mutation.createTerritory"
        | "Mutation.updateRecipient"
        | "Mutation.updateCategory"
        | "Mutation.updateTerritory"
        | "Mutation.mergeRecipients"
        | "Mutation.mergeCategories"
        | "Mutation.mergeTerritories" => Roles(ADMIN_CURATOR),
        "Query.appeals" | "Query.appeal" | "Query.appealByNumber" => {
            RolesOrScopes(APPEAL_READERS, &[ApiScope::AppealsRead])
        }
        // The analytics service checks the same rule itself.
        "Query.analytics" => crate::domain::analytics::READ,
        // City-wide figures: the service also refuses curators limited to a territory.
        "Query.memos" => Roles(&[Role::Head, Role::Curator]),
        "Mutation.createAppeal"
        | "Mutation.updateAppeal"
        | "Mutation.registerAppeal"
        | "Mutation.assignAppeal"
        | "Mutation.redirectAppeal"
        | "Mutation.extendDeadline"
        | "Mutation.assessAnswer"
        | "Mutation.leaveWithoutAnswer"
        | "Mutation.recordFeedback"
        | "Mutation.reopenAppeal"
        | "Mutation.markDuplicate"
        | "Mutation.closeAppeal" => Roles(ROUTERS),
        "Mutation.startWork" | "Mutation.answerAppeal" => Roles(ANSWERERS),
        "Mutation.submitFeedback" => Public,
        "Query.calendarOverrides" | "Query.lastOfficialCalendarYear" => Roles(STAFF),
        "Mutation.setCalendarDay" | "Mutation.removeCalendarDay" => Roles(ADMIN),
        "Mutation.ingestAppeals" => RolesOrScopes(ROUTERS, &[ApiScope::AppealsIngest]),
        "Query.suggestCategory" | "Query.possibleDuplicates" => Roles(APPEAL_READERS),
        "Query.imports" | "Mutation.importAppeals" => Roles(ROUTERS),
        "Query.classifierInfo" | "Mutation.retrainClassifier" => {
            Roles(&[Role::Admin, Role::Curator, Role::Coordinator])
        }
        // The regional centre's analytics on projects (decree 3.2д): tokens get no personal
        // data (the Roadmap and Poll objects leave names and free text out for them).
        "Query.roadmaps" | "Query.roadmap" => RolesOrScopes(APPEAL_READERS, &[ApiScope::AnalyticsRead]),
        "Mutation.createRoadmap"
        | "Mutation.updateRoadmap"
        | "Mutation.addMeasure"
        | "Mutation.submitRoadmap"
        | "Mutation.startRoadmap"
        | "Mutation.completeRoadmap"
        | "Mutation.cancelRoadmap" => Roles(ROUTERS),
        "Mutation.approveRoadmap" | "Mutation.returnRoadmap" => Roles(&[Role::Curator]),
        // Best practices hold no personal data: the regional centre reads them too.
        "Query.practices" | "Query.practice" => RolesOrScopes(APPEAL_READERS, &[ApiScope::AnalyticsRead]),
        // Requests of the regional centre: the centre's curators and coordinators handle them,
        // the Head reads them, the ЦУР sends and reads them with a CUR_REQUESTS token.
        "Query.curRequests" | "Query.curRequest" => {
            RolesOrScopes(&[Role::Curator, Role::Coordinator, Role::Head], &[ApiScope::CurRequests])
        }
        "Mutation.createCurRequest" => RolesOrScopes(ROUTERS, &[ApiScope::CurRequests]),
        "Mutation.addCurMaterial" | "Mutation.setCurRequestStatus" => Roles(ROUTERS),
        // Reports per system (decree 2.4г, 2.5г): city-wide figures without personal data; the
        // service also refuses people limited to a territory.
        "Query.systemReports" | "Query.systemReport" | "Mutation.generateSystemReport" => {
            RolesOrScopes(POLL_READERS, &[ApiScope::AnalyticsRead])
        }
        // Meetings with the Head (decree 2.2в): curators and the Head plan, hold and minute
        // them, coordinators read; no token (meetings name people; the minutes are internal).
        "Query.meetings" | "Query.meeting" | "Query.proposedAgenda" => Roles(POLL_READERS),
        "Mutation.createMeeting"
        | "Mutation.updateMeeting"
        | "Mutation.setMeetingStatus"
        | "Mutation.recordDecision" => Roles(&[Role::Curator, Role::Head]),
        // An executor sees and moves the assignments of its own recipient (the service checks).
        "Query.assignments" | "Query.assignment" | "Mutation.setAssignmentStatus" => Roles(APPEAL_READERS),
        "Mutation.createPractice" | "Mutation.updatePractice" | "Mutation.linkPractice" | "Mutation.unlinkPractice" => {
            Roles(ROUTERS)
        }
        "Mutation.updateMeasure" => Roles(ANSWERERS),
        "Query.polls" | "Query.poll" => RolesOrScopes(POLL_READERS, &[ApiScope::AnalyticsRead]),
        "Query.pollSuggestions" => Roles(POLL_READERS),
        "Mutation.createPoll"
        | "Mutation.publishPoll"
        | "Mutation.closePoll"
        | "Mutation.generatePollInvites"
        | "Mutation.moderatePollComment" => Roles(ROUTERS),
        "Query.publicPoll" | "Query.publicPolls" | "Mutation.castVote" | "Mutation.addPollComment" => Public,
        // Sends an e-mail or an SMS: rate-limited per address and per contact by the service.
        "Mutation.requestPollCode" => Public,
        "Query.notifications"
        | "Query.notificationSettings"
        | "Mutation.markNotificationsRead"
        | "Mutation.updateNotificationSettings"
        | "Subscription.notificationAdded" => Roles(NOTIFIED),
        // The service holds each kind of object to its own rule (who may change it), see
        // `domain::attachments::TargetKind::write_rule` and `service::attachments`.
        "Mutation.addAttachment" | "Mutation.deleteAttachment" => Roles(ANSWERERS_AND_HEAD),
        "Subscription.appealChanged" => RolesOrScopes(APPEAL_READERS, &[ApiScope::AppealsRead]),
        _ => return None,
    })
}
