-- Clinic routing recipe: send every stable photographic (XC) series to facenode.
-- Orthanc calls OnStableSeries once a series has had no new instance for "StableAge"
-- seconds (set it to a few seconds; the default is 60). The modality named "facenode"
-- must exist in DicomModalities. Lua's SendToModality takes instance ids only, so the
-- whole series goes through the REST route /modalities/<name>/store.

function OnStableSeries(seriesId, tags, metadata)
  if tags['Modality'] ~= 'XC' then
    return
  end
  -- Never send the node's own results back to it (its annotated images are derived).
  local series = ParseJson(RestApiGet('/series/' .. seriesId))
  if series['Instances'] ~= nil and #series['Instances'] > 0 then
    local first = ParseJson(RestApiGet('/instances/' .. series['Instances'][1] .. '/simplified-tags'))
    if first['Manufacturer'] == 'facenode' then
      return
    end
  end
  print('facenode routing: series ' .. seriesId)
  RestApiPost('/modalities/facenode/store', seriesId)
end
