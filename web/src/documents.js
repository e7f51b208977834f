// Every GraphQL document the app sends: the queries and mutations over
// HTTP (Q), and the subscriptions over the WebSocket API (S). Their result
// and variable types are generated into graphql.d.ts (`make types`): a
// document `Send` answers a `SendMutation` with `SendMutationVariables`.

import { gql } from '@urql/core';

// The fields of a message every view needs: one fragment, so the types
// generated from these documents (web/src/graphql.d.ts) name it once.
const MESSAGE = gql`fragment MessageFields on Message { id authorId content seq createdAt editedAt deletedAt removedByModerator version mentions reactions { emoji count reacted } attachments { id name contentType size state error width height url thumbnailUrl } }`;
export const Q = {
  me: gql`query Me { me { id username } }`,
  createUser: gql`mutation CreateUser($u: String!) { createUser(input: { username: $u }) { id username } }`,
  users: gql`query Users($t: String) { listUsers(limit: 100, nextToken: $t) { items { id username online lastSeenAt } nextToken } }`,
  user: gql`query User($id: ID!) { getUser(id: $id) { id username online lastSeenAt } }`,
  inbox: gql`query Inbox { inbox(limit: 20) { items { conversationId name members lastMessage { id authorId content deletedAt removedByModerator attachments { contentType } } unreadCount moreUnread lastReadMessageId notifications } } }`,
  createConvo: gql`mutation CreateConvo($n: String!, $m: [String!]!) { createConvo(input: { name: $n, members: $m }) { id } }`,
  history: gql`query History($c: ID!, $t: String) { getConvo(id: $c) { id name members memberCount messages(limit: 30, sortDirection: DESC, nextToken: $t) { items { ...MessageFields } nextToken } } } ${MESSAGE}`,
  changes: gql`query Changes($c: ID!, $a: String) { messageChanges(conversationId: $c, after: $a, limit: 100) { items { kind message { ...MessageFields } } cursor nextToken } } ${MESSAGE}`,
  send: gql`mutation Send($id: ID!, $c: ID!, $content: String!, $a: [ID!]) { createMessage(input: { id: $id, messageConversationId: $c, content: $content, attachments: $a }) { ...MessageFields } } ${MESSAGE}`,
  createUpload: gql`mutation CreateUpload($i: CreateUploadInput!) { createUpload(input: $i) { id method url headers { name value } expiresAt maxBytes } }`,
  edit: gql`mutation Edit($id: ID!, $c: ID!, $content: String!) { updateMessage(input: { id: $id, messageConversationId: $c, content: $content }) { ...MessageFields } } ${MESSAGE}`,
  remove: gql`mutation Delete($id: ID!, $c: ID!) { deleteMessage(input: { id: $id, messageConversationId: $c }) { ...MessageFields } } ${MESSAGE}`,
  react: gql`mutation React($c: ID!, $m: ID!, $e: String!) { addReaction(input: { messageConversationId: $c, messageId: $m, emoji: $e }) { ...MessageFields } } ${MESSAGE}`,
  unreact: gql`mutation Unreact($c: ID!, $m: ID!, $e: String!) { removeReaction(input: { messageConversationId: $c, messageId: $m, emoji: $e }) { ...MessageFields } } ${MESSAGE}`,
  markRead: gql`mutation MarkRead($c: ID!, $m: ID!) { markRead(conversationId: $c, messageId: $m) { userId seq } }`,
  typing: gql`mutation Typing($c: ID!) { typing(conversationId: $c) { sent } }`,
  pushSettings: gql`query PushSettings { pushSettings { dndUntil hideContent mentions devices { id platform token } } }`,
  updatePush: gql`mutation UpdatePush($i: PushSettingsInput!) { updatePushSettings(input: $i) { dndUntil hideContent mentions } }`,
  setLevel: gql`mutation SetLevel($c: ID!, $l: NotifyLevel!) { setConversationNotifications(conversationId: $c, level: $l) { conversationId level } }`,
  registerDevice: gql`mutation RegisterDevice($i: RegisterDeviceInput!) { registerDevice(input: $i) { id } }`,
  reportMessage: gql`mutation ReportMessage($i: ReportMessageInput!) { reportMessage(input: $i) { reportId duplicate } }`,
  reportUser: gql`mutation ReportUser($i: ReportUserInput!) { reportUser(input: $i) { reportId duplicate } }`,
  openReports: gql`query OpenReports { openReports(limit: 50) { items { id kind userId conversationId messageId reporters entries { reporterId reason note reportedAt snapshot { content attachments } } } } }`,
  dismissReport: gql`mutation DismissReport($r: ID!) { dismissReport(reportId: $r) { id status } }`,
  removeMessage: gql`mutation RemoveMessage($c: ID!, $m: ID!, $r: ID) { removeMessage(input: { id: $m, messageConversationId: $c }, reportId: $r) { id removedByModerator } }`,
  blocked: gql`query Blocked { blockedUsers { userId } }`,
  block: gql`mutation Block($u: ID!) { blockUser(userId: $u) { userId } }`,
  unblock: gql`mutation Unblock($u: ID!) { unblockUser(userId: $u) }`,
  suspend: gql`mutation Suspend($i: SuspendUserInput!) { suspendUser(input: $i) { userId suspendedUntil } }`,
  ban: gql`mutation Ban($i: BanUserInput!) { banUser(input: $i) { userId banned } }`,
};
export const S = {
  changes: gql`subscription OnMessageChange($c: ID!) { onMessageChange(conversationId: $c) { kind conversationId message { ...MessageFields } } } ${MESSAGE}`,
  presence: gql`subscription OnPresence($c: ID!) { onPresence(conversationId: $c) { userId online lastSeenAt } }`,
  typing: gql`subscription OnTyping($c: ID!) { onTyping(conversationId: $c) { userId expiresAt } }`,
  read: gql`subscription OnReadMarker($c: ID!) { onReadMarker(conversationId: $c) { userId messageId seq } }`,
  links: gql`subscription OnCreateConvoLink($u: ID!) { onCreateConvoLink(convoLinkUserId: $u) { convoLinkConversationId } }`,
};
