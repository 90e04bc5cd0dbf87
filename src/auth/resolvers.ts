// Key management through the API (admin only: enforced by the roles matrix in permissions.ts).
import type { ApiKeyRole, Resolvers } from '../api/graphql/generated/resolvers.js';
import type { ApiKeyInfo } from '../storage/api-key-store.js';

const toApiKey = (k: ApiKeyInfo) => ({
  id: k.id,
  role: k.role.toUpperCase() as ApiKeyRole,
  sourceAppIds: k.sourceAppIds,
  name: k.name,
  createdAt: k.createdAt,
  revokedAt: k.revokedAt,
});

export const apiKeyResolvers: Resolvers = {
  Query: {
    apiKeys: async (_root, args, { auth }) => (await auth.listKeys(args.includeRevoked ?? false)).map(toApiKey),
  },
  Mutation: {
    createApiKey: async (_root, args, { auth, logger, principal }) => {
      const { secret, key } = await auth.createKey(args);
      logger.info({ keyId: key.id, role: key.role, sourceAppIds: key.sourceAppIds, by: principal.kind === 'key' ? principal.id : principal.kind }, 'API key created');
      return { id: key.id, secret, key: toApiKey(key) };
    },
    revokeApiKey: async (_root, { id }, { auth, logger, principal }) => {
      const key = await auth.revokeKey(id);
      logger.info({ keyId: key.id, by: principal.kind === 'key' ? principal.id : principal.kind }, 'API key revoked');
      return toApiKey(key);
    },
  },
};
