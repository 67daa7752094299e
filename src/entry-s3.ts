/** `ferry/s3`: the S3 backend class (loads the AWS SDK). `openBackend('s3:bucket/x')` from the root entry loads it on demand. */
export { S3Backend, type S3BackendOptions } from './backends/s3/s3-backend.js';
export { s3BackendDefinition } from './backends/s3/index.js';
