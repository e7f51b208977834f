// The APPSYNC_JS handlers every Lambda resolver runs on AWS
// (infra/resolvers/invoke.js), evaluated here with a stand-in for
// `@aws-appsync/utils` whose util.error throws, as AppSync's stops the
// handler.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

class AppSyncError extends Error {
    constructor(message, type) {
        super(message);
        this.type = type;
    }
}
const util = { error: (message, type) => { throw new AppSyncError(message, type); } };

const source = await readFile(new URL('../../infra/resolvers/invoke.js', import.meta.url), 'utf8');
const body = source
    .replace(/^import .*$/m, '')
    .replace(/^export function /gm, 'function ');
const { request, response } = new Function('util', `${body}\nreturn { request, response };`)(util);

const identity = { sub: 'u-1', username: 'alice', claims: { 'cognito:username': 'alice' }, issuer: 'https://issuer' };
const info = { fieldName: 'getConvo', parentTypeName: 'Query', variables: {}, selectionSetList: ['id'], selectionSetGraphQL: '{\n  id\n}' };

test('the event carries three headers at most, each cut to 256 bytes, and what a function reads', () => {
    const ctx = {
        arguments: { id: 'c1' },
        identity,
        source: null,
        info,
        request: {
            domainName: null,
            headers: {
                authorization: 'eyJ'.repeat(400),
                'content-type': 'application/json',
                'user-agent': 'u'.repeat(1000),
                'x-filler': 'x'.repeat(300_000),
                cookie: 'session=1',
            },
        },
    };
    const out = request(ctx);
    assert.equal(out.operation, 'Invoke');
    assert.deepEqual(Object.keys(out.payload).sort(), ['arguments', 'identity', 'info', 'prev', 'request', 'source', 'stash']);
    assert.deepEqual(out.payload.request.headers, { 'content-type': 'application/json', 'user-agent': 'u'.repeat(256) });
    assert.equal(out.payload.request.domainName, null);
    assert.deepEqual(out.payload.arguments, { id: 'c1' });
    assert.equal(out.payload.identity, identity);
    assert.equal(out.payload.info, info);
    assert.ok(JSON.stringify(out).length < 2000, 'the headers did not come along');
});

test('a request without headers still builds an event', () => {
    const out = request({ arguments: {}, identity, source: null, info, request: {} });
    assert.deepEqual(out.payload.request, { headers: {}, domainName: null });
});

test("a function's answered error is raised with its errorType; a failed invocation is an InternalFailure", () => {
    assert.throws(
        () => response({ result: { __error: { errorType: 'Unauthorized', message: 'you are not a member of this conversation' } } }),
        { message: 'you are not a member of this conversation', type: 'Unauthorized' },
    );
    assert.throws(
        () => response({ error: { message: 'internal failure; the request was not completed', type: 'Lambda:Unhandled' }, result: null }),
        { message: 'internal failure; the request was not completed', type: 'InternalFailure' },
    );
    const value = { id: 'c1', name: 'room' };
    assert.equal(response({ result: value }), value);
    assert.equal(response({ result: null }), null);
});
