/** Backend decorators: each wraps any StorageBackend and forwards exactly its abilities. */
export { abilitiesOf, decorate, MUTATING, type Call, type Interceptor, type Operation } from './decorate.js';
export { BACKEND_RETRY_POLICY, withRetry, type BackendRetryOptions } from './retry.js';
export { TokenBucket, withBandwidthLimit, type BandwidthOptions } from './bandwidth.js';
export { withLogging, type StorageLogEntry, type StorageLogger } from './logging.js';
export { withDryRun } from './dry-run.js';
export { EncryptedBackend, migrateToEncrypted, reencryptStore, type EncryptionOptions, type MigrationProgress, type ReencryptionProgress } from './encryption.js';
export { generateMasterKeyText, masterKeyFromText, openRing, readMasterKeyFile, rekeyRing, refuseEncryptedWithoutKey, saveRing, type MasterKey } from './key-ring.js';
