import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { CampaignList } from '../src/app/CampaignList';
import { CampaignPage } from '../src/app/CampaignPage';
import { DomainFlowProvider } from '../src/hooks/context';
import { CAMPAIGN, FakeApi, makeCampaign } from './helpers';

function withApi(api: FakeApi, ui: React.ReactNode) {
  return render(<DomainFlowProvider client={api.client()}>{ui}</DomainFlowProvider>);
}

const STALLED = '2026-12-07T10:00:00Z';

describe('stalled campaigns', () => {
  it('marks a running campaign that waits to be taken over, on its page', async () => {
    const api = new FakeApi();
    api.campaign = makeCampaign({ status: 'running', current_phase: 'dns', stalled_since: STALLED });
    withApi(api, <CampaignPage id={CAMPAIGN} />);
    const badge = await screen.findByTestId('campaign-stalled-badge');
    expect(badge.textContent).toContain('Stalled');
    expect(badge.getAttribute('title')).toContain('stopped answering');
  });

  it('marks it in the campaign list', async () => {
    const api = new FakeApi();
    api.campaign = makeCampaign({ status: 'running', current_phase: 'dns', stalled_since: STALLED });
    withApi(api, <CampaignList />);
    const r = await screen.findByTestId('campaign-row');
    expect(within(r).getByTestId('campaign-stalled-badge')).toBeTruthy();
  });

  it('says nothing of a campaign being worked, or one that stopped', async () => {
    for (const c of [makeCampaign({ status: 'running', current_phase: 'dns' }), makeCampaign({ status: 'paused', stalled_since: STALLED })]) {
      const api = new FakeApi();
      api.campaign = c;
      const { unmount } = withApi(api, <CampaignList />);
      const r = await screen.findByTestId('campaign-row');
      expect(within(r).queryByTestId('campaign-stalled-badge')).toBeNull();
      unmount();
    }
  });
});
