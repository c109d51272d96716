/**
 * The chat layer's share of every node's work. Each node, signed in or not, holds names
 * (RecordService) and mail (MailboxService) for the users closest to it; serveChat adds both
 * to a node before it starts. The user's own chat (chat.ts) runs on top of them.
 */
import type { NodeContext, ServiceHost } from '../dht/context.ts';
import { MailboxService } from './mailbox-service.ts';
// Adds the chat methods to the DHT's method table before any node built here reads a frame.
import './wire.ts';
import { RecordService } from './record-service.ts';

export interface ChatServices {
  readonly node: NodeContext;
  readonly records: RecordService;
  readonly mailbox: MailboxService;
}

/** Adds the record and mailbox holders to a node that has not started yet. */
export function serveChat(node: ServiceHost): ChatServices {
  const records = new RecordService(node);
  const mailbox = new MailboxService(node);
  // Loaded, told of neighbours and rechecked in this order.
  node.addService(records);
  node.addService(mailbox);
  return { node, records, mailbox };
}
