/** EC2 error codes → the taxonomy. The policy sees the kind, never AWS's text. */
import { type ErrorKind, ProviderError } from "../../model/errors.js";
import { lookup } from "../lookup.js";

const KIND_BY_CODE: Readonly<Record<string, ErrorKind>> = {
  InstanceLimitExceeded: "quota",
  VcpuLimitExceeded: "quota",
  MaxSpotInstanceCountExceeded: "quota",
  InsufficientInstanceCapacity: "capacity",
  InsufficientHostCapacity: "capacity",
  InsufficientReservedInstanceCapacity: "capacity",
  Unsupported: "capacity",
  InsufficientFreeAddressesInSubnet: "capacity",
  SpotMaxPriceTooLow: "capacity",
  RequestLimitExceeded: "throttled",
  Throttling: "throttled",
  ThrottlingException: "throttled",
  AuthFailure: "auth",
  UnauthorizedOperation: "auth",
  // No, expired or invalid credentials, from EC2 or from the SDK's credential chain itself.
  InvalidClientTokenId: "auth",
  ExpiredToken: "auth",
  ExpiredTokenException: "auth",
  InvalidToken: "auth",
  UnrecognizedClientException: "auth",
  MissingAuthenticationToken: "auth",
  IncompleteSignature: "auth",
  CredentialsProviderError: "auth",
  TokenProviderError: "auth",
  SignatureDoesNotMatch: "auth",
  OptInRequired: "auth",
  // The head node's clock is off: it will not fix itself, and an admin must look.
  RequestExpired: "auth",
  InvalidParameterValue: "config",
  InvalidParameterCombination: "config",
  "InvalidSubnetID.NotFound": "config",
  "InvalidKeyPair.NotFound": "config",
  "InvalidGroup.NotFound": "config",
  "InvalidLaunchTemplateId.NotFound": "config",
  "InvalidLaunchTemplateName.NotFoundException": "config",
  InvalidInstanceType: "config",
  IdempotentParameterMismatch: "config",
};

/** Network failures of the HTTP client (no answer from EC2 at all). */
const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "TimeoutError",
  "RequestTimeout",
  "NetworkingError",
]);

interface AwsErrorShape {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

export function ec2ErrorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const shape = error as AwsErrorShape;
  if (typeof shape.code === "string" && NETWORK_CODES.has(shape.code)) return shape.code;
  return typeof shape.name === "string" ? shape.name : undefined;
}

/** Classifies anything an EC2 call threw. `scope` is the instance type/subnet the call was about. */
export function classifyEc2Error(error: unknown, scope?: string): ProviderError {
  if (error instanceof ProviderError) return error;
  const shape = (typeof error === "object" && error !== null ? error : {}) as AwsErrorShape;
  const code = ec2ErrorCode(error) ?? "Unknown";
  const status =
    typeof shape.$metadata?.httpStatusCode === "number"
      ? shape.$metadata.httpStatusCode
      : undefined;
  const message = `${code}: ${typeof shape.message === "string" ? shape.message : String(error)}`;
  const known = lookup(KIND_BY_CODE, code);
  let kind: ErrorKind = known ?? "transient";
  if (known === undefined) {
    if (code.startsWith("InvalidAMIID.")) kind = "config";
    else if (status !== undefined && status >= 400 && status < 500 && !NETWORK_CODES.has(code))
      kind = "config";
  }
  return new ProviderError(kind, message, {
    cause: error,
    ...(kind === "capacity" && scope !== undefined ? { scope } : {}),
  });
}
