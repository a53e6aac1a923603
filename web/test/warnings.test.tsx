import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { CampaignList } from '../src/app/CampaignList';
import { CampaignPage } from '../src/app/CampaignPage';
import { DomainFlowProvider } from '../src/hooks/context';
import { CAMPAIGN, FakeApi, makeCampaign } from './helpers';

function withApi(api: FakeApi, ui: React.ReactNode) {
  return render(<DomainFlowProvider client={api.client()}>{ui}</DomainFlowProvider>);
}

describe('campaign page: warnings', () => {
  it('shows the campaign’s warnings', async () => {
    const api = new FakeApi();
    api.campaign = makeCampaign({
      status: 'completed',
      warnings: [{ code: 'dns_unresolved', message: '700 of 1000 names got no definite answer after 6 tries: check the resolvers.' }],
    });
    withApi(api, <CampaignPage id={CAMPAIGN} />);
    const box = await screen.findByTestId('campaign-warnings');
    expect(within(box).getByTestId('campaign-warning').textContent).toBe('700 of 1000 names got no definite answer after 6 tries: check the resolvers.');
    expect(within(box).getByTestId('campaign-warning').dataset.code).toBe('dns_unresolved');
    // Warnings are no error.
    expect(screen.queryByTestId('error-banner')).toBeNull();
  });

  it('shows no warnings box without warnings', async () => {
    const api = new FakeApi();
    withApi(api, <CampaignPage id={CAMPAIGN} />);
    await screen.findByTestId('campaign-name');
    expect(screen.queryByTestId('campaign-warnings')).toBeNull();
  });
});

describe('campaign list: warning badge', () => {
  it('marks a campaign with warnings, with their messages as its tooltip', async () => {
    const api = new FakeApi();
    api.campaign = makeCampaign({
      status: 'completed',
      warnings: [
        { code: 'dns_unresolved', message: 'Most names got no answer.' },
        { code: 'other', message: 'Something else.' },
      ],
    });
    withApi(api, <CampaignList />);
    const r = await screen.findByTestId('campaign-row');
    const badge = within(r).getByTestId('campaign-warning-badge');
    expect(badge.textContent).toContain('2 warnings');
    expect(badge.getAttribute('title')).toBe('Most names got no answer.\nSomething else.');
    // The status badge is still the one campaign-status of the row.
    expect(within(r).getAllByTestId('campaign-status')).toHaveLength(1);
  });

  it('shows no badge without warnings', async () => {
    const api = new FakeApi();
    api.campaign = makeCampaign({ warnings: [] });
    withApi(api, <CampaignList />);
    const r = await screen.findByTestId('campaign-row');
    expect(within(r).queryByTestId('campaign-warning-badge')).toBeNull();
  });
});
