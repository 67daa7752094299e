/** `ferry/sftp`: the SFTP backend class (loads ssh2). `openBackend('sftp://host/x')` from the root entry loads it on demand. */
export { SftpBackend, type SftpBackendOptions } from './backends/sftp/sftp-backend.js';
export { sftpBackendDefinition } from './backends/sftp/index.js';
