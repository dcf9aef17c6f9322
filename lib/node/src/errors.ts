// Error classes. Server answers that are not a plain result become a
// RingcacheStatusError subclass carrying the protocol status; local
// outcomes (timeout, bad argument, closed client) have their own classes.
import { Status, STATUS_NAMES } from './proto';

export class RingcacheError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** No usable answer before the call's deadline (after every allowed retry).
 *  For a write that is not retried (CAS, durable, non-idempotent), the write
 *  may or may not have been applied. */
export class TimeoutError extends RingcacheError {
  constructor(readonly attempts: number, readonly server: string) {
    super(`ringcache: timed out after ${attempts} attempt(s) to ${server}`);
  }
}
export class ClientClosedError extends RingcacheError {
  constructor() {
    super('ringcache: client closed');
  }
}
export class InvalidArgumentError extends RingcacheError {}
/** The server's reply made no sense for the request (after the client's own
 *  re-routing and padding were exhausted). */
export class ProtocolError extends RingcacheError {}

/** A server status that is not a plain result of the call. */
export class RingcacheStatusError extends RingcacheError {
  readonly statusName: string;
  constructor(readonly status: Status, readonly server: string, detail = '') {
    super(`ringcache: ${STATUS_NAMES[status] ?? `status ${status}`} from ${server}${detail}`);
    this.statusName = STATUS_NAMES[status] ?? `STATUS_${status}`;
  }
}
/** CAS given and it does not match (set or delete). Re-read and retry. */
export class ExistsError extends RingcacheStatusError {}
/** Conditional set of an absent key. */
export class NotFoundError extends RingcacheStatusError {}
export class TooLargeError extends RingcacheStatusError {}
export class BadRequestError extends RingcacheStatusError {}
/** Rate quota exceeded: back off. */
export class ThrottledError extends RingcacheStatusError {}
/** The node is a standby (or joining); epoch is the node's current epoch. */
export class NotPrimaryError extends RingcacheStatusError {
  constructor(status: Status, server: string, readonly epoch: number) {
    super(status, server, ` (epoch ${epoch})`);
  }
}
export class ServerError extends RingcacheStatusError {}
export class NoMemoryError extends RingcacheStatusError {}
export class UnknownClassError extends RingcacheStatusError {}
/** Still OVERFLOW when asked alone. */
export class OverflowError extends RingcacheStatusError {}
/** Still WRONG_PARTITION after re-routing with the partition count learnt. */
export class WrongPartitionError extends RingcacheStatusError {}
/** Node in read-only mode: the write is refused (not retried). */
export class ReadOnlyError extends RingcacheStatusError {}
/** Still PAD_REQUIRED when padded as asked. */
export class PadRequiredError extends RingcacheStatusError {}
/** Node could not reassemble a segmented request now (after retries). */
export class BusyError extends RingcacheStatusError {}
/** Durable write applied on the primary, not confirmed by its standby. */
export class NotReplicatedError extends RingcacheStatusError {
  constructor(status: Status, server: string, readonly cas: bigint) {
    super(status, server);
  }
}

export function statusError(status: number, server: string, epoch = 0, cas = 0n): RingcacheStatusError {
  switch (status) {
    case Status.EXISTS: return new ExistsError(status, server);
    case Status.NOT_FOUND: return new NotFoundError(status, server);
    case Status.TOO_LARGE: return new TooLargeError(status, server);
    case Status.BAD_REQUEST: return new BadRequestError(status, server);
    case Status.THROTTLED: return new ThrottledError(status, server);
    case Status.NOT_PRIMARY: return new NotPrimaryError(status, server, epoch);
    case Status.SERVER_ERROR: return new ServerError(status, server);
    case Status.NO_MEMORY: return new NoMemoryError(status, server);
    case Status.UNKNOWN_CLASS: return new UnknownClassError(status, server);
    case Status.OVERFLOW: return new OverflowError(status, server);
    case Status.WRONG_PARTITION: return new WrongPartitionError(status, server);
    case Status.READ_ONLY: return new ReadOnlyError(status, server);
    case Status.PAD_REQUIRED: return new PadRequiredError(status, server);
    case Status.BUSY: return new BusyError(status, server);
    case Status.NOT_REPLICATED: return new NotReplicatedError(status, server, cas);
    default: return new RingcacheStatusError(status, server);
  }
}
