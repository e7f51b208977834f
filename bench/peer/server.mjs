// The benchmarks' peer: what a team would build instead of this project.
// Apollo Server over Express for queries and mutations, graphql-ws on the same
// port for subscriptions, and graphql-subscriptions' in-memory PubSub between
// them. It serves the project's own schema (schema/schema.graphql) and the two
// fields the fan-out benchmark drives, with the same rules, so that both sides
// do the same work per message:
//   - tokens are the local identity provider's RS256 JWTs, verified with its JWKS;
//   - createMessage checks the caller's ConvoLink, then persists the message with
//     a conditional PutItem (@aws-sdk/client-dynamodb) on the same DynamoDB
//     endpoint, before publishing it;
//   - onCreateMessage checks the subscriber's ConvoLink on subscribe.
// Messages go to their own table (PEER_MESSAGES_TABLE) so the project's stream
// pipeline never sees the peer's traffic.
//
// Environment: PEER_PORT (4100), ISSUER (http://127.0.0.1:4000),
// DYNAMODB_ENDPOINT (required), CONVO_LINKS_TABLE (ConvoLinks),
// PEER_MESSAGES_TABLE (PeerMessages).

import { readFileSync } from 'node:fs';
import http from 'node:http';
import { randomUUID } from 'node:crypto';

import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';
import { makeExecutableSchema } from '@graphql-tools/schema';
import express from 'express';
import { GraphQLError } from 'graphql';
import { PubSub } from 'graphql-subscriptions';
import { useServer } from 'graphql-ws/use/ws';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { WebSocketServer } from 'ws';

const port = Number(process.env.PEER_PORT ?? 4100);
const issuer = process.env.ISSUER ?? 'http://127.0.0.1:4000';
const endpoint = process.env.DYNAMODB_ENDPOINT;
const linksTable = process.env.CONVO_LINKS_TABLE ?? 'ConvoLinks';
const messagesTable = process.env.PEER_MESSAGES_TABLE ?? 'PeerMessages';
if (!endpoint) throw new Error('DYNAMODB_ENDPOINT must be set');

const root = new URL('../../', import.meta.url);
const typeDefs = [
  readFileSync(new URL('functions/graphql/src/appsync_prelude.graphql', root), 'utf8'),
  readFileSync(new URL('schema/schema.graphql', root), 'utf8'),
];

const dynamodb = new DynamoDBClient({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', issuer));
const pubsub = new PubSub();

function fail(message, code) {
  return new GraphQLError(message, { extensions: { code } });
}

async function callerId(authorization) {
  if (!authorization) throw fail('missing token', 'UNAUTHENTICATED');
  const token = authorization.replace(/^Bearer /, '');
  try {
    const { payload } = await jwtVerify(token, jwks, { issuer, algorithms: ['RS256'] });
    return payload.sub;
  } catch {
    throw fail('invalid token', 'UNAUTHENTICATED');
  }
}

async function requireMember(userId, conversationId) {
  const out = await dynamodb.send(
    new GetItemCommand({
      TableName: linksTable,
      Key: {
        convoLinkUserId: { S: userId },
        convoLinkConversationId: { S: conversationId },
      },
      ConsistentRead: true,
    }),
  );
  if (!out.Item) throw fail('not a member of this conversation', 'FORBIDDEN');
}

const topic = (conversationId) => `message:${conversationId}`;

const resolvers = {
  Mutation: {
    async createMessage(_, { input }, { sub }) {
      if (!sub) throw fail('missing token', 'UNAUTHENTICATED');
      const content = input.content;
      if (content.trim() === '' || [...content].length > 4000) {
        throw fail('content must be 1 to 4000 characters and not blank', 'BAD_USER_INPUT');
      }
      await requireMember(sub, input.messageConversationId);
      const now = new Date().toISOString();
      const message = {
        id: input.id ?? randomUUID(),
        messageConversationId: input.messageConversationId,
        authorId: sub,
        content,
        createdAt: now,
        updatedAt: now,
      };
      await dynamodb.send(
        new PutItemCommand({
          TableName: messagesTable,
          Item: {
            messageConversationId: { S: message.messageConversationId },
            id: { S: message.id },
            seq: { S: `${now}#${randomUUID()}` },
            authorId: { S: message.authorId },
            content: { S: message.content },
            createdAt: { S: now },
            updatedAt: { S: now },
          },
          ConditionExpression: 'attribute_not_exists(id)',
        }),
      );
      await pubsub.publish(topic(message.messageConversationId), message);
      return message;
    },
  },
  Subscription: {
    onCreateMessage: {
      async subscribe(_, { messageConversationId }, { sub }) {
        await requireMember(sub, messageConversationId);
        return pubsub.asyncIterableIterator(topic(messageConversationId));
      },
      resolve: (message) => message,
    },
  },
};

async function ensureTable() {
  try {
    await dynamodb.send(
      new CreateTableCommand({
        TableName: messagesTable,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'messageConversationId', AttributeType: 'S' },
          { AttributeName: 'id', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'messageConversationId', KeyType: 'HASH' },
          { AttributeName: 'id', KeyType: 'RANGE' },
        ],
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
}

const schema = makeExecutableSchema({ typeDefs, resolvers });
const app = express();
const httpServer = http.createServer(app);
const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql' });
const wsCleanup = useServer(
  {
    schema,
    async onConnect(ctx) {
      try {
        ctx.extra.sub = await callerId(ctx.connectionParams?.authorization);
        return true;
      } catch {
        return false;
      }
    },
    context: (ctx) => ({ sub: ctx.extra.sub }),
  },
  wsServer,
);
const apollo = new ApolloServer({
  schema,
  plugins: [
    ApolloServerPluginDrainHttpServer({ httpServer }),
    {
      async serverWillStart() {
        return {
          async drainServer() {
            await wsCleanup.dispose();
          },
        };
      },
    },
  ],
});

await ensureTable();
await apollo.start();
app.use(
  '/graphql',
  express.json({ limit: '1mb' }),
  expressMiddleware(apollo, {
    context: async ({ req }) => ({ sub: await callerId(req.headers.authorization) }),
  }),
);
httpServer.listen(port, '127.0.0.1', () => {
  console.log(`peer listening on http://127.0.0.1:${port}/graphql`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    await apollo.stop();
    process.exit(0);
  });
}
