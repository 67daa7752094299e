/**
 * How a transfer of many files decides that a file is already in place on the other side and
 * leaves it (rsync's and rclone's "quick check" and its variants): one vocabulary for
 * `put -r`/`get -r` (client/) and sync, copy, move and bisync (sync/).
 * - `default`: same size and modification time (within the modify window);
 * - `checksum`: same size and content hash (`-c`);
 * - `size-only`: same size (`--size-only`);
 * - `ignore-times`: never; every file is sent again (`-I`; content the other side already
 *   holds still does not travel to a Ferry server).
 */
export type CompareMode = 'default' | 'checksum' | 'size-only' | 'ignore-times';
