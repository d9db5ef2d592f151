import { expect, test } from "bun:test";
import { digestChallenges, digestResponse, ha1, parseAuthParams } from "../../../src/common/auth/digest.ts";

test("digest responses match RFC 2617's worked example (MD5)", () => {
  const response = digestResponse({
    algorithm: "MD5",
    ha1: ha1("MD5", "Mufasa", "Circle Of Life", "testrealm@host.com"),
    nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
    nc: "00000001",
    cnonce: "0a4f113b",
    method: "GET",
    uri: "/dir/index.html",
  });
  expect(response).toBe("6629fae49393a05397450978507c4ef1");
});

test("digest responses match RFC 7616's worked examples (MD5 and SHA-256)", () => {
  const common = { nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc: "00000001", cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", method: "GET", uri: "/dir/index.html" };
  const realm = "http-auth@example.org";
  expect(digestResponse({ ...common, algorithm: "MD5", ha1: ha1("MD5", "Mufasa", "Circle of Life", realm) })).toBe("8ca523f5e9506fed4657c9700eebdbec");
  expect(digestResponse({ ...common, algorithm: "SHA-256", ha1: ha1("SHA-256", "Mufasa", "Circle of Life", realm) })).toBe("753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
});

test("auth parameters: quoted values with commas and escapes; a repeated field keeps its first value", () => {
  const p = parseAuthParams('username="a\\"b", realm="x, y", nc=00000001, qop=auth, username="mallory"');
  expect(p.username).toBe('a"b');
  expect(p.realm).toBe("x, y");
  expect(p.nc).toBe("00000001");
  expect(p.qop).toBe("auth");
});

test("several challenges, repeated headers or one line, are all read; other schemes are skipped", () => {
  const headers = new Headers();
  headers.append("WWW-Authenticate", 'Digest realm="dist_test", qop="auth", algorithm=MD5, nonce="n1"');
  headers.append("WWW-Authenticate", 'Basic realm="x", Digest realm="dist_test", qop="auth", algorithm=SHA-256, nonce="n1"');
  const challenges = digestChallenges(headers);
  expect(challenges.map((c) => c.algorithm)).toEqual(["MD5", "SHA-256"]);
  expect(challenges.every((c) => c.nonce === "n1" && c.realm === "dist_test")).toBe(true);
});
