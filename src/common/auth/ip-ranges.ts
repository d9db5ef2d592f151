import { BlockList, isIP } from "node:net";
import { DtError } from "../errors.ts";

/**
 * A set of CIDR ranges, IPv4 and IPv6, as dist_test's `allowed_ip_ranges`
 * (comma- or space-separated; a bare address is its own /32 or /128). An
 * IPv4 client reached over an IPv6 socket (`::ffff:10.1.2.3`) matches the
 * IPv4 ranges.
 *
 * @example
 *   const ranges = IpRanges.parse("10.0.0.0/8, fd00::/8", "allowed_ip_ranges");
 *   ranges.has("10.1.2.3"); // true
 */
export class IpRanges {
  private constructor(private readonly list: BlockList, readonly text: readonly string[]) {}

  static parse(value: string, what: string): IpRanges {
    const list = new BlockList();
    const text: string[] = [];
    for (const item of value.split(/[\s,]+/).filter(Boolean)) {
      const [address = "", prefixText, extra] = item.split("/");
      const family = isIP(address);
      const max = family === 4 ? 32 : 128;
      const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
      if (family === 0 || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
        throw new DtError("invalid_input", `${what}: ${JSON.stringify(item)} is not an address or CIDR range; write e.g. 10.0.0.0/8, 192.168.1.7 or fd00::/8`);
      }
      list.addSubnet(address, prefix, family === 4 ? "ipv4" : "ipv6");
      text.push(`${address}/${prefix}`);
    }
    return new IpRanges(list, text);
  }

  static loopback(): IpRanges {
    return IpRanges.parse("127.0.0.0/8 ::1", "loopback");
  }

  static none(): IpRanges {
    return IpRanges.parse("", "none");
  }

  get empty(): boolean {
    return this.text.length === 0;
  }

  has(address: string | undefined): boolean {
    if (!address) return false;
    const family = isIP(address);
    if (family === 0) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return this.list.check(mapped[1]!, "ipv4");
    return this.list.check(address, family === 4 ? "ipv4" : "ipv6");
  }

  toString(): string {
    return this.text.length === 0 ? "(none)" : this.text.join(", ");
  }
}
