/**
 * One tool a user could pick to move files, as the bench drives it: the commands for each
 * kind of step, and, where the tool can say, how many bytes a step sent.
 *
 * Every step names its remote object by a bench-relative name (`big.bin`, `tree`,
 * `many/f007.bin`); each tool keeps its objects in its own place on its server, so the
 * tools never see each other's files.
 */
import type { ClientCost, Command } from '../lib/measure.js';
import type { PeerServer } from '../peers/server.js';

export type StepKind = 'upload' | 'download' | 'tree' | 'tree-download' | 'many';

export interface Tool {
  /** Short id used in options and JSON (`ferry`, `curl`, `scp`...). */
  id: string;
  /** What the table shows (`curl → nginx`). */
  label: string;
  /** The server this tool talks to: its process tree is where server CPU and RSS are counted. */
  server: PeerServer;
  /** True for ferry itself (the rows the others are compared with). */
  isFerry: boolean;
  upload(local: string, name: string): Command;
  download(name: string, local: string): Command;
  /** Make the remote tree `name` match the local directory; undefined when the tool has no tree mode. */
  uploadTree?(localDir: string, name: string): Command;
  /**
   * Make the local directory `localDir` match the remote tree `name` (a directory named
   * like the remote one, in a parent that exists); undefined when the tool has no tree mode.
   */
  downloadTree?(name: string, localDir: string): Command;
  /** One client per file, all at once. A tool may drive them from one process (ferry's SDK load generator). */
  uploadMany(locals: string[], dirName: string): Command[];
  /** Called before each step; what it returns is handed to bytesSent after. */
  snapshot?(): Promise<unknown>;
  /** Payload bytes the step sent in the transfer's direction, when countable. */
  bytesSent?(kind: StepKind, client: ClientCost, before: unknown): Promise<number | undefined>;
  /** Creates the remote directories a step needs (for peers whose servers do not). */
  prepare?(name: string): Promise<void>;
  /** Removes everything this tool stored, between runs. */
  clear?(): Promise<void>;
}
