/**
 * What every SlaveProvider does, against a real master with real `dt slave`
 * processes: started slaves register as ones it manages, and drained ones
 * it stops go away. Run by local-provider.test.ts and exec-provider.test.ts.
 */
import { describe, expect, test } from "bun:test";
import type { SlaveProvider } from "../../src/autoscale/provider.ts";
import type { SlaveView } from "../../src/master/protocol.ts";
import { pollUntil } from "../e2e/cluster.ts";
import { type TestBed, useTestBed } from "./harness.ts";

export interface ProviderUnderTest {
  provider: SlaveProvider;
  /** True while the slave's process runs: how the test sees a stop take effect on any provider. */
  running(name: string): boolean;
  /** A slave of this fleet and one of another, as the master would list them. */
  ours: Pick<SlaveView, "name" | "dimensions">;
  theirs: Pick<SlaveView, "name" | "dimensions">[];
}

const view = (s: Pick<SlaveView, "name" | "dimensions">): SlaveView => ({
  ...s, slots: 1, version: "test", state: "idle", hold: null, pending_command: null, registered_at: 0, last_seen_at: 0, running: [], infra_failures: [], metrics_url: null,
});

/** Two slave boots and their stops on a loaded 2-core machine. */
const CASE_TIMEOUT_MS = 30_000;

export function providerConformance(kind: string, make: (bed: TestBed) => Promise<ProviderUnderTest>): void {
  const setup = useTestBed();

  describe(`SlaveProvider conformance: ${kind}`, () => {
    test("started slaves register with the master as slaves it manages; drained ones it stops go away", async () => {
      const bed = await setup();
      const { provider, running } = await make(bed);
      const given = await provider.start(2, 2);
      if (given !== undefined) expect(given).toHaveLength(2);
      let names: string[] = [];
      await pollUntil(async () => {
        names = (await bed.slaves()).filter((s) => s.state !== "lost" && provider.manages(s)).map((s) => s.name).sort();
        return names.length === 2;
      }, () => `two managed slaves to register (seen: ${names.join(", ")})`, 20_000);
      if (given !== undefined) expect(names).toEqual([...given].sort());
      // Only local knows its slaves by process; a cloud group's members are whoever registers.
      const members = provider.members();
      if (members !== undefined) expect([...members].sort()).toEqual(names);

      // As the autoscaler does: drain through the master, then stop.
      for (const name of names) await bed.post(`/api/v1/slaves/${name}/drain`, { reason: "conformance" });
      expect(await provider.stop([names[0]!], 1)).toEqual({ stopped: [names[0]!] });
      await pollUntil(() => !running(names[0]!), `${names[0]} to stop`, 15_000);
      expect(running(names[1]!)).toBe(true);
      if (provider.removesByName) {
        const members = provider.members();
        if (members !== undefined) expect([...members]).toEqual([names[1]!]);
      }
      await provider.stop([names[1]!], 0);
      await pollUntil(() => !running(names[1]!), `${names[1]} to stop`, 15_000);
    }, CASE_TIMEOUT_MS);

    test("manages its own slaves and no others", async () => {
      const bed = await setup();
      const { provider, ours, theirs } = await make(bed);
      expect(provider.manages(view(ours))).toBe(true);
      for (const other of theirs) expect({ name: other.name, managed: provider.manages(view(other)) }).toEqual({ name: other.name, managed: false });
      await provider.close();
    });
  });
}
