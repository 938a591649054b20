import type { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import type { ConnectionsApi } from '../../functions/lib/connections-client.ts';

/**
 * A fake management API written as an SDK client (`send` taking a command's `input`) seen as the
 * messenger's `ConnectionsApi`: a `GoneException` is a gone connection (false), as the signed
 * client reports a 410.
 */
export function sdkConnections(client: ApiGatewayManagementApiClient): ConnectionsApi {
  const send = client.send.bind(client) as unknown as (command: {
    input: { ConnectionId: string; Data?: Uint8Array };
  }) => Promise<unknown>;
  const call = async (input: { ConnectionId: string; Data?: Uint8Array }): Promise<boolean> => {
    try {
      await send({ input });
      return true;
    } catch (err) {
      if ((err as { name?: string }).name === 'GoneException') return false;
      throw err;
    }
  };
  return {
    post: (connectionId, data) => call({ ConnectionId: connectionId, Data: data }),
    remove: (connectionId) => call({ ConnectionId: connectionId }),
  };
}
