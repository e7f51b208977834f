//! The GraphQL documents the benchmarks send: Chatt's own client documents
//! (unchanged, as in `tests/tests/api/chatt.rs`) where Chatt has one, and
//! ChatQL's history query.

pub const CREATE_USER: &str = "mutation($username: String!) { createUser(input: { username: $username }) { id username createdAt } }";
pub const CREATE_CONVO: &str = "mutation CreateConvo($name: String!, $members: [String!]!) { createConvo(input: { name: $name, members: $members }) { id name members } }";
pub const CREATE_CONVO_LINK: &str = "mutation CreateConvoLink($convoLinkConversationId: ID!, $convoLinkUserId: ID) { createConvoLink(input: { convoLinkConversationId: $convoLinkConversationId, convoLinkUserId: $convoLinkUserId }) { id convoLinkUserId convoLinkConversationId conversation { id name } } }";
pub const CREATE_MESSAGE: &str = "mutation CreateMessage($createdAt: String, $id: ID, $authorId: String, $content: String!, $messageConversationId: ID!) { createMessage(input: { createdAt: $createdAt, id: $id, content: $content, messageConversationId: $messageConversationId, authorId: $authorId }) { id content authorId messageConversationId createdAt } }";
pub const GET_USER_AND_CONVERSATIONS: &str = "query getUserAndConversations($id:ID!) { getUser(id:$id) { id username conversations(limit: 100) { items { id conversation { id name } } } } }";
pub const GET_CONVO: &str = "query getConvo($id: ID!) { getConvo(id:$id) { id name members messages(limit: 100) { items { id content authorId messageConversationId createdAt } } createdAt updatedAt } }";
pub const LIST_USERS: &str = "query listUsers { listUsers { items { id username createdAt } } }";
pub const ME: &str = "query { me { id username createdAt } }";
pub const HISTORY: &str = "query($conversationId: ID!, $after: String, $first: Int) { allMessageConnection(conversationId: $conversationId, after: $after, first: $first) { messages { id content authorId createdAt } nextToken } }";
pub const ON_CREATE_MESSAGE: &str = "subscription onCreateMessage($messageConversationId: ID!) { onCreateMessage(messageConversationId: $messageConversationId) { id content authorId messageConversationId createdAt } }";
