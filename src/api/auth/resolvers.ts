// Key management through the API (admin only: enforced by the roles matrix in src/auth/permissions.ts).
import { z } from 'zod';
import type { ApiKeyRole, Resolvers } from '../graphql/generated/resolvers.js';
import type { ApiKeyInfo } from '../../storage/api-key-store.js';
import { parseOrThrow } from '../validation/issues.js';
import { sourceAppId } from '../validation/rules.js';

const keyName = z
  .string()
  .max(128, 'must be at most 128 characters')
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters')
  .nullish();

const toApiKey = (k: ApiKeyInfo) => ({
  id: k.id,
  role: k.role.toUpperCase() as ApiKeyRole,
  sourceAppIds: k.sourceAppIds,
  name: k.name,
  createdAt: k.createdAt,
  createdBy: k.createdBy,
  revokedAt: k.revokedAt,
});

export const apiKeyResolvers: Resolvers = {
  Query: {
    apiKeys: async (_root, args, { auth }) => (await auth.listKeys(args.includeRevoked ?? false)).map(toApiKey),
  },
  Mutation: {
    createApiKey: async (_root, args, { auth, logger, principal }) => {
      const { secret, key } = await auth.createKey({
        role: args.role,
        sourceAppIds: args.sourceAppIds?.map((a, i) => parseOrThrow(sourceAppId, a, ['sourceAppIds', i])) ?? null,
        name: parseOrThrow(keyName, args.name, ['name']) ?? null,
        // AUTH=off (an `open` principal) is refused by createKey itself.
        createdBy: principal.kind === 'key' ? principal.id : principal.kind,
      });
      logger.info(
        {
          keyId: key.id,
          role: key.role,
          sourceAppIds: key.sourceAppIds,
          by: principal.kind === 'key' ? principal.id : principal.kind,
        },
        'API key created',
      );
      return { id: key.id, secret, key: toApiKey(key) };
    },
    revokeApiKey: async (_root, { id }, { auth, logger, principal }) => {
      const key = await auth.revokeKey(id);
      logger.info({ keyId: key.id, by: principal.kind === 'key' ? principal.id : principal.kind }, 'API key revoked');
      return toApiKey(key);
    },
  },
};
