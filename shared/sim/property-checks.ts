/**
 * What ARCHITECTURE.md properties 2 and 3 (and "Groups") demand of a chat, groups or names run,
 * shared by the CI-sized tests and the full-size ones so the two can never check different things.
 */
import { expect } from 'vitest';
import type { ChatExperimentResult } from './chat-experiment.ts';
import type { GroupExperimentResult } from './group-experiment.ts';
import type { NamesExperimentResult } from './names-experiment.ts';

export function expectOfflineDelivery(r: ChatExperimentResult, least: { messages: number; massDeparted: number }): void {
  expect(r.longestAbsenceHours).toBeGreaterThanOrEqual(r.maxAbsenceHours);
  expect(r.massDeparted).toBeGreaterThanOrEqual(least.massDeparted);
  expect(r.offlineMessages).toBeGreaterThanOrEqual(least.messages);
  expect(r.deliveredFraction).toBeGreaterThanOrEqual(0.999);
  expect(r.shownTwice).toBe(0);
  expect(r.pushedAfterTombstone).toBe(0);
}

/** Issue 16's groups line: every copy owed shown within 2 minutes of its member being online, once. */
export function expectGroupDelivery(r: GroupExperimentResult, least: { copiesToAbsent: number; changes: number }): void {
  expect(r.groupsFailed).toBe(0);
  expect(r.groupSizes).toContain(r.minGroupSize);
  expect(r.groupSizes).toContain(r.maxGroupSize);
  expect(r.longestAbsenceHours).toBeGreaterThanOrEqual(r.maxAbsenceHours);
  expect(r.copiesToAbsent).toBeGreaterThanOrEqual(least.copiesToAbsent);
  expect(r.changesMade).toBeGreaterThanOrEqual(least.changes);
  expect(r.deliveredFraction).toBeGreaterThanOrEqual(0.999);
  expect(r.shownTwice).toBe(0);
  expect(r.outOfOrder).toBe(0);
  // With everyone back, every member holds the creator's version, and the removed know it.
  expect(r.viewsBehind).toBe(0);
  expect(r.removedNotTold).toBe(0);
  expect(r.honestRefused).toBe(0);
}

export function expectNamesResolve(r: NamesExperimentResult): void {
  // 30% an hour for that many days: the network was replaced many times over.
  expect(r.departures).toBeGreaterThan(r.nodes * 100);
  expect(r.wrongKey).toBe(0);
  expect(r.resolvedFraction).toBeGreaterThanOrEqual(0.99);
}
