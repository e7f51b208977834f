// The request and response handlers of every resolver backed by a Lambda
// function (APPSYNC_JS). The local gateway builds the same event and reads
// the answer the same way (infra/gateway/src/graphql.rs).
import { util } from '@aws-appsync/utils';

// The only request headers a function's event carries, each cut to this
// many bytes (header values are ASCII): no function reads a header, and what a client sends in
// headers must not multiply into every invocation of its request. The same
// list and bound as the gateway's EVENT_HEADERS and MAX_EVENT_HEADER_BYTES.
const EVENT_HEADERS = ['content-type', 'user-agent', 'x-amzn-trace-id'];
const MAX_EVENT_HEADER_BYTES = 256;

// Of a failed invocation the handler sees only a message, so a function
// answers a client's error as its result, under this key.
const FIELD_ERROR_KEY = '__error';

export function request(ctx) {
  const sent = ctx.request.headers || {};
  const headers = {};
  EVENT_HEADERS.forEach((name) => {
    const value = sent[name];
    if (typeof value === 'string') {
      headers[name] = value.slice(0, MAX_EVENT_HEADER_BYTES);
    }
  });
  return {
    operation: 'Invoke',
    payload: {
      arguments: ctx.arguments,
      identity: ctx.identity,
      source: ctx.source,
      info: ctx.info,
      request: { headers, domainName: ctx.request.domainName || null },
      prev: null,
      stash: {},
    },
  };
}

export function response(ctx) {
  if (ctx.error) {
    // An internal failure, whose message the function made safe for the
    // client, or one of Lambda's own (a timeout, a throttle).
    util.error(ctx.error.message, 'InternalFailure');
  }
  const refused = ctx.result && ctx.result[FIELD_ERROR_KEY];
  if (refused) {
    // errorInfo: a rate limit's retryAfterSeconds.
    util.error(refused.message, refused.errorType, null, refused.errorInfo || null);
  }
  return ctx.result;
}
